// Command readings runs in the cloud. It stores the latest summary of each
// sensor that the edge filters send on iot.readings (wasmcloud:messaging) in
// the key-value store, and serves them over HTTP:
//
//	GET /readings        {"kitchen/temp":{"sensor":"kitchen/temp","count":5,...},...}
//	GET /readings/<sensor>  one sensor's latest summary
//
//	wisp build ./examples/iot-pipeline/readings --cap wasmcloud:messaging --cap wasmcloud:keyvalue --cap wasmcloud:httpserver
package main

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/wisp-dev/wisp/sdk/httpserver"
	"github.com/wisp-dev/wisp/sdk/keyvalue"
	"github.com/wisp-dev/wisp/sdk/messaging"
)

const sensorsSet = "sensors"

func init() {
	messaging.Handle(func(ctx context.Context, m messaging.Message) error {
		sensor, ok := field(string(m.Body), "sensor")
		if !ok {
			return nil // not a summary: nothing to store
		}
		if err := keyvalue.Set(ctx, "latest:"+sensor, string(m.Body), 0); err != nil {
			return err
		}
		_, err := keyvalue.Default.SetAdd(ctx, sensorsSet, sensor)
		return err
	})
	httpserver.Handle(func(ctx context.Context, r *httpserver.Request) (*httpserver.Response, error) {
		if r.Method != "GET" {
			return httpserver.Text(405, "GET only\n"), nil
		}
		if sensor, ok := strings.CutPrefix(r.Path, "/readings/"); ok && sensor != "" {
			v, found, err := keyvalue.Get(ctx, "latest:"+sensor)
			if err != nil {
				return nil, err
			}
			if !found {
				return httpserver.Text(404, "no readings from "+sensor+" yet\n"), nil
			}
			return httpserver.JSON(200, []byte(v+"\n")), nil
		}
		if r.Path != "/readings" && r.Path != "/readings/" {
			return httpserver.Text(404, "try GET /readings\n"), nil
		}
		sensors, err := keyvalue.Default.SetQuery(ctx, sensorsSet)
		if err != nil {
			return nil, err
		}
		sort.Strings(sensors)
		var b strings.Builder
		b.WriteString("{")
		n := 0
		for _, s := range sensors {
			v, found, err := keyvalue.Get(ctx, "latest:"+s)
			if err != nil {
				return nil, err
			}
			if !found {
				continue
			}
			if n > 0 {
				b.WriteString(",")
			}
			b.WriteString(strconv.Quote(s) + ":" + v)
			n++
		}
		b.WriteString("}\n")
		return httpserver.JSON(200, []byte(b.String())), nil
	})
}

// field reads a top-level string field of a flat JSON object written by the
// filter: enough for its summaries, without a JSON library in the guest.
func field(obj, name string) (string, bool) {
	_, rest, ok := strings.Cut(obj, `"`+name+`":"`)
	if !ok {
		return "", false
	}
	v, _, ok := strings.Cut(rest, `"`)
	return v, ok && v != ""
}

func main() {}
