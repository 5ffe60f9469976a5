//go:build unix

package oci

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gzipBomb returns a gzipped tar archive of one entry, name, of size
// bytes of zeros, without compressing them all: deflate's output for a
// MiB of zeros after a MiB of zeros is the same every time, so it is made
// once and repeated. The gzip trailer is left off; nothing that reads the
// archive within its limit gets that far.
func gzipBomb(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	var out bytes.Buffer
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}) // gzip header, deflate
	fw, err := flate.NewWriter(&out, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	fw.Write(hdr.Bytes()[:512])
	fw.Write(zeros)
	fw.Flush()
	mark := out.Len()
	fw.Write(zeros)
	fw.Flush()
	chunk := append([]byte(nil), out.Bytes()[mark:]...)
	for n := int64(2 << 20); n < size; n += 1 << 20 {
		out.Write(chunk)
	}
	return out.Bytes()
}

func cpuNow(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A layer of a few megabytes of gzip that expands to 4 GiB costs a pull
// almost nothing: decompression stops at the first entry that is not a
// module, or at a module's declared size over --max-layer-size, without
// inflating the rest.
func TestGzipBombLayerRefusedCheaply(t *testing.T) {
	reg := newRegistry(t, nil)
	for _, name := range []string{"zeros.bin", "bomb.wasm"} {
		bomb := gzipBomb(t, name, 4<<30)
		t.Logf("%s: %d bytes of gzip for 4 GiB", name, len(bomb))
		pushRaw(t, reg, "bomb/"+strings.TrimSuffix(name, ".wasm")+":1", map[string][]byte{MediaTypeTarGzipLayer: bomb})
	}
	for _, tc := range []struct {
		ref  string
		want error
		msg  string
	}{
		{"bomb/zeros.bin:1", ErrNotActor, `holds "zeros.bin", which is not a .wasm file`},
		{"bomb/bomb:1", ErrTooLarge, "bomb.wasm in layer"},
	} {
		before := cpuNow(t)
		_, err := newClient(t).Pull(context.Background(), reg.ref(tc.ref), IfNotPresent)
		cpu := cpuNow(t) - before
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Fatalf("pull %s = %v, want %v saying %q", tc.ref, err, tc.want, tc.msg)
		}
		t.Logf("%s: refused with %s of CPU: %v", tc.ref, cpu.Round(time.Millisecond), err)
		if cpu > 500*time.Millisecond {
			t.Fatalf("pull %s took %s of CPU to refuse", tc.ref, cpu)
		}
	}
}

// The expanded bytes of an archive are bounded too, headers included: a
// layer under --max-layer-size whose archive expands past it is refused.
func TestExpandedArchiveBounded(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for i := 0; i < 4096; i++ { // 2 MiB of directory headers
		tw.WriteHeader(&tar.Header{Name: strings.Repeat("d", 10) + string(rune('a'+i%26)) + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	_, err := moduleFromLayer(descriptor{MediaType: MediaTypeTarGzipLayer}, gz.Bytes(), 1<<20)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "expands past 1048576 bytes") {
		t.Fatalf("moduleFromLayer = %v, want ErrTooLarge", err)
	}
}
