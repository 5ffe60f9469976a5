// Package logging makes the logger of a wisp process: slog lines in text
// or JSON, and on every line written while serving a traced call the
// trace and span ids of that call, so that a log search and a trace view
// meet.
//
//	log, err := logging.New(os.Stderr, logging.Config{Format: "json", Level: "info"})
//	log.InfoContext(ctx, "served") // {"time":…,"msg":"served","trace_id":"4bf9…","span_id":"00f0…"}
//
// # Notes
//   - Only the *Context methods (InfoContext, Log with a ctx...) can see
//     the call's span: the host passes the call's context where it logs
//     for a call.
//   - A context with no valid span adds nothing.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Config is the logger's format and level.
type Config struct {
	// Format is "text" (default) or "json".
	Format string
	// Level is debug, info (default), warn or error.
	Level string
}

// New returns a logger writing c's format to w.
func New(w io.Writer, c Config) (*slog.Logger, error) {
	var level slog.Level
	if c.Level != "" {
		if err := level.UnmarshalText([]byte(c.Level)); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.Format {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", c.Format)
	}
	return slog.New(traceHandler{h}), nil
}

// traceHandler adds trace_id and span_id to records logged with a context
// that holds a span.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
