package bench

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// BenchmarkDensity measures what one more instance of the Go echo actor
// costs, on every engine compiled in and, on wazero, with snapshots (the
// default: instances start from a copy-on-write image of the first one
// after its initialisation) and without (engine.Config.NoSnapshot: every
// instance runs the Go runtime's start), in the same run:
//
//   - instantiate: one more instance, then its close (the snapshot is taken
//     before the timer starts);
//   - memory: 20 more instances, each after one call; the growth of the
//     process's proportional set size (Pss: a page shared by n mappings
//     counts 1/n, so the snapshot's shared pages count once), per instance,
//     and how many fit in a GiB at that rate;
//   - scale-down: 8 instances, 7 of them closed, then one garbage
//     collection, no forced return of memory to the system (as a host
//     that scales down does): the Pss the 7 leave behind.
func BenchmarkDensity(b *testing.B) {
	echo := testwasm.GoActor(b, "actors/echo")
	tiny := []byte("sixteen bytes..!")
	ctx := context.Background()
	type variant struct {
		name string
		cfg  engine.Config
	}
	var variants []variant
	for _, name := range engine.Available() {
		variants = append(variants, variant{name, engine.Config{Name: name}})
		if name == "wazero" {
			variants = append(variants, variant{"wazero-nosnapshot", engine.Config{Name: name, NoSnapshot: true}})
		}
	}
	start := func(b *testing.B, m engine.Module) engine.Instance {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "echo"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inst.Invoke(ctx, "Echo.Reply", tiny); err != nil {
			b.Fatal(err)
		}
		return inst
	}
	for _, v := range variants {
		b.Run(v.name+"/instantiate", func(b *testing.B) {
			m := compiled(b, v.cfg, echo)
			start(b, m).Close(ctx) // the first: takes the snapshot
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				inst, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "echo"})
				if err != nil {
					b.Fatal(err)
				}
				inst.Close(ctx)
			}
		})
		b.Run(v.name+"/memory", func(b *testing.B) {
			m := compiled(b, v.cfg, echo)
			start(b, m).Close(ctx)
			const n = 20
			var perInstance float64
			for i := 0; i < b.N; i++ {
				before := pssKiB(b, true)
				insts := make([]engine.Instance, n)
				for k := range insts {
					insts[k] = start(b, m)
				}
				perInstance += float64(pssKiB(b, true)-before) / n
				for _, inst := range insts {
					inst.Close(ctx)
				}
			}
			perInstance /= float64(b.N)
			b.ReportMetric(perInstance, "KiB/instance")
			b.ReportMetric((1<<20)/perInstance, "instances/GiB")
		})
		b.Run(v.name+"/scale-down", func(b *testing.B) {
			m := compiled(b, v.cfg, echo)
			start(b, m).Close(ctx)
			var kept float64
			for i := 0; i < b.N; i++ {
				base := pssKiB(b, true)
				one := start(b, m)
				withOne := pssKiB(b, true) - base
				insts := []engine.Instance{one}
				for range 7 {
					insts = append(insts, start(b, m))
				}
				for _, inst := range insts[1:] {
					inst.Close(ctx)
				}
				after := pssKiB(b, false) - base
				kept += float64(after - withOne)
				one.Close(ctx)
			}
			b.ReportMetric(kept/float64(b.N), "KiB-kept-after-8to1")
		})
	}
}

// pssKiB is the process's proportional set size: resident memory with each
// shared page divided among the mappings that share it. It runs a garbage
// collection first and, with free, returns freed memory to the system.
func pssKiB(b *testing.B, free bool) int64 {
	runtime.GC()
	if free {
		debug.FreeOSMemory()
	}
	rollup, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		b.Fatalf("memory per instance needs /proc/self/smaps_rollup: %v", err)
	}
	for _, line := range strings.Split(string(rollup), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("no Pss in /proc/self/smaps_rollup")
	return 0
}
