package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
)

// startMosquitto runs Debian's mosquitto on a free 127.0.0.1 port.
func startMosquitto(b *testing.B) string {
	b.Helper()
	bin := "/usr/sbin/mosquitto"
	if p, err := exec.LookPath("mosquitto"); err == nil {
		bin = p
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skip("mosquitto is not installed (Debian package mosquitto)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(b.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)), 0o600)
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testwait.Eventually(b, 10*time.Second, func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("mosquitto did not start: %w", err)
		}
		return c.Close()
	})
	return fmt.Sprintf("tcp://127.0.0.1:%d", port)
}
