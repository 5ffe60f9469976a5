package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

// runAuthCost measures what securing the lattice costs a call: the same
// `wisp up` process (a host with its embedded server) open
// (--insecure-no-auth), with JWT authentication and permissions (the
// default), and with both plus TLS on its listener (--tls auto). The
// caller is this process over TCP in every mode; each mode runs reps times
// in a fresh host and the figures are the median with the spread.
func runAuthCost(n int, dur time.Duration, callers, reps int) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "wispbench-auth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, module, err := prepare(ctx, tmp)
	if err != nil {
		return err
	}
	cache := filepath.Join(tmp, "cache")
	modes := []struct {
		name string
		args []string
	}{
		{"open (--insecure-no-auth)", []string{"--insecure-no-auth"}},
		{"JWT auth + permissions", nil},
		{"JWT auth + permissions + TLS", []string{"--tls", "auto"}},
	}
	type figures struct{ p50, p99, tput []float64 }
	res := make([]figures, len(modes))
	fmt.Printf("wispbench -auth: 1 KiB echo through a wisp up process, caller over TCP, %d reps, %s\n\n", reps, time.Now().Format(time.RFC3339))
	for r := 0; r < reps; r++ {
		for i, m := range modes {
			// Each mode has its own config dir, so TLS files and auth
			// stores do not leak from one mode to the next.
			dir := filepath.Join(tmp, fmt.Sprintf("mode%d", i))
			os.MkdirAll(dir, 0o700)
			h, err := startHost(bin, dir, cache, m.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			c, err := lattice.Connect(h.url, lattice.WithTimeout(5*time.Minute), lattice.WithCredentials(credsOf(dir, auth.AdminUser)))
			if err == nil {
				var hostID string
				if hostID, err = onlyHost(ctx, c); err == nil {
					_, err = c.StartActor(ctx, hostID, lattice.StartActorRequest{Ref: module, Name: "echo", Count: 4})
				}
				c.Close()
			}
			if err != nil {
				stopHost(h)
				return fmt.Errorf("%s: %w", m.name, err)
			}
			_, actLat, _, actTput, err := echoRuns(h.url, dir, n, dur, callers)
			stopHost(h)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			us := func(d time.Duration) float64 { return float64(d) / 1e3 }
			res[i].p50 = append(res[i].p50, us(pct(actLat, 50)))
			res[i].p99 = append(res[i].p99, us(pct(actLat, 99)))
			res[i].tput = append(res[i].tput, actTput)
		}
	}
	fmt.Printf("%-32s %22s %22s %26s\n", "mode", "p50 µs (spread)", "p99 µs (spread)", fmt.Sprintf("req/s, %d callers (spread)", callers))
	for i, m := range modes {
		f := res[i]
		fmt.Printf("%-32s %10.1f (%4.1f–%5.1f) %10.1f (%5.1f–%5.1f) %12.0f (%6.0f–%6.0f)\n", m.name,
			median(f.p50), minOf(f.p50), maxOf(f.p50), median(f.p99), minOf(f.p99), maxOf(f.p99), median(f.tput), minOf(f.tput), maxOf(f.tput))
	}
	fmt.Println()
	for i := 1; i < len(modes); i++ {
		fmt.Printf("%-32s p50 %.2fx, p99 %.2fx, throughput %.2fx of open\n", modes[i].name,
			median(res[i].p50)/median(res[0].p50), median(res[i].p99)/median(res[0].p99), median(res[i].tput)/median(res[0].tput))
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}
