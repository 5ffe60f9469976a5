package tests

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDeviceSimWithLibcoap runs `wisp device sim` as a process and drives
// it with libcoap's coap-client: read the temperature, switch the LED,
// then stop it with SIGINT.
func TestDeviceSimWithLibcoap(t *testing.T) {
	client := needTool(t, "coap-client-notls", "libcoap3-bin")
	logs := &syncBuffer{}
	cmd := exec.Command(wisp(t), "device", "sim", "--name", "bench-1", "--interval", "50ms")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	addr := regexp.MustCompile(`coap://(127\.0\.0\.1:\d+)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			url = "coap://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no address printed:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	coap := func(args ...string) string {
		out, err := exec.Command(client, append([]string{"-B", "5"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("coap-client %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := coap("-m", "get", url+"/.well-known/core"); !strings.Contains(out, `</temp>;rt="temperature";obs`) {
		t.Fatalf("/.well-known/core: %q", out)
	}
	if out := coap("-m", "get", url+"/temp"); !regexp.MustCompile(`^-?\d+\.\d$`).MatchString(out) {
		t.Fatalf("/temp: %q", out)
	}
	coap("-m", "put", "-e", "on", url+"/led")
	if out := coap("-m", "get", url+"/led"); out != "on" {
		t.Fatalf("/led after PUT on: %q", out)
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("device sim exited with %v:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("device sim did not stop on SIGINT")
	}
}
