// Command probe is a test actor that exercises the host: builtins,
// actor-to-actor calls, and every way a Go guest can misbehave.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-dev/wisp/sdk"
)

var hoard [][]byte

func init() {
	sdk.Handle("Probe.Log", func(ctx context.Context, p []byte) ([]byte, error) {
		return nil, sdk.Log(ctx, "warn", string(p))
	})
	sdk.Handle("Probe.Guid", func(ctx context.Context, _ []byte) ([]byte, error) {
		s, err := sdk.GUID(ctx)
		return []byte(s), err
	})
	sdk.Handle("Probe.Dice", func(ctx context.Context, _ []byte) ([]byte, error) {
		n, err := sdk.RandomInRange(ctx, 1, 6)
		return []byte(strconv.Itoa(int(n))), err
	})
	// Probe.Call calls Echo.Reply on the actor named in the payload.
	sdk.Handle("Probe.Call", func(ctx context.Context, p []byte) ([]byte, error) {
		return sdk.CallActor(ctx, string(p), "Echo.Reply", []byte("via "+string(p)))
	})
	sdk.Handle("Probe.Link", func(ctx context.Context, p []byte) ([]byte, error) {
		return sdk.HostCall(ctx, "default", "wasmcloud:keyvalue", "KeyValue.Get", p)
	})
	sdk.Handle("Probe.Fail", func(context.Context, []byte) ([]byte, error) {
		return nil, errors.New("probe failed on purpose")
	})
	sdk.Handle("Probe.Panic", func(context.Context, []byte) ([]byte, error) {
		panic("probe panics")
	})
	sdk.Handle("Probe.Exit", func(context.Context, []byte) ([]byte, error) {
		os.Exit(3)
		return nil, nil
	})
	sdk.Handle("Probe.Spin", func(context.Context, []byte) ([]byte, error) {
		for n := 0; ; n++ {
			if n < 0 {
				return nil, nil
			}
		}
	})
	// Probe.Hoard keeps allocating 1 MiB blocks until memory runs out.
	sdk.Handle("Probe.Hoard", func(context.Context, []byte) ([]byte, error) {
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	})
	// Probe.Sleep sleeps for the payload's number of milliseconds.
	sdk.Handle("Probe.Sleep", func(_ context.Context, p []byte) ([]byte, error) {
		ms, err := strconv.Atoi(string(p))
		if err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return []byte("slept"), nil
	})
	// Probe.Hash returns the hex SHA-256 of the payload: compute-heavy guest
	// code for the engine benchmarks.
	sdk.Handle("Probe.Hash", func(_ context.Context, p []byte) ([]byte, error) {
		sum := sha256.Sum256(p)
		return []byte(hex.EncodeToString(sum[:])), nil
	})
	// Probe.JSON decodes a JSON array of objects, upper-cases every string
	// value and sums every number into a "total" field, and encodes it
	// again: a JSON transform for the engine benchmarks.
	sdk.Handle("Probe.JSON", func(_ context.Context, p []byte) ([]byte, error) {
		var recs []map[string]any
		if err := json.Unmarshal(p, &recs); err != nil {
			return nil, err
		}
		for _, r := range recs {
			total := 0.0
			for k, v := range r {
				switch v := v.(type) {
				case string:
					r[k] = strings.ToUpper(v)
				case float64:
					total += v
				}
			}
			r["total"] = total
		}
		return json.Marshal(recs)
	})
	sdk.Handle("Probe.Print", func(_ context.Context, p []byte) ([]byte, error) {
		os.Stdout.Write(append(p, '\n'))
		sdk.Print(string(p))
		return nil, nil
	})
}

func main() {}
