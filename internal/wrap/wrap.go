// Package wrap gives the SDK's packages errors with context without
// importing fmt, which is most of what the SDK would otherwise add to an
// actor's module (reflect, unicode tables, os). An error from wrap reads
// "context: cause" and unwraps to its cause, as fmt.Errorf("%s: %w") does.
package wrap

// Error returns err with context prefixed, or nil if err is nil.
func Error(context string, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{context: context, err: err}
}

type wrapped struct {
	context string
	err     error
}

func (w *wrapped) Error() string { return w.context + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }
