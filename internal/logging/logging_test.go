package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/logging"
	"github.com/wisp-dev/wisp/lattice/trace"
)

// TestJSONLinesCarryTheCallsTraceIDs: a line logged with the context of a
// call that came with a traceparent names its trace and span; one logged
// without does not.
func TestJSONLinesCarryTheCallsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(&buf, logging.Config{Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := trace.Extract(context.Background(), nats.Header{trace.HeaderTraceparent: {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	log.With("actor", "echo").InfoContext(ctx, "serving", "operation", "Echo.Reply")
	log.Info("idle")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || first["span_id"] != "00f067aa0ba902b7" || first["actor"] != "echo" {
		t.Errorf("line of the call = %v", first)
	}
	if _, ok := second["trace_id"]; ok {
		t.Errorf("line outside a call has a trace id: %v", second)
	}
}

func TestTextFormatAndBadSettings(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(&buf, logging.Config{Format: "text", Level: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "level=WARN msg=shown") {
		t.Errorf("text log = %q", got)
	}
	if _, err := logging.New(&buf, logging.Config{Format: "xml"}); err == nil || !strings.Contains(err.Error(), "want text or json") {
		t.Errorf("format xml: %v", err)
	}
	if _, err := logging.New(&buf, logging.Config{Level: "loud"}); err == nil {
		t.Error("level loud accepted")
	}
}
