//go:build !wasip1

package sdk

import "fmt"

func hostCall(binding, namespace, operation string, _ []byte) ([]byte, error) {
	return nil, fmt.Errorf("host call %s %s.%s: %w", binding, namespace, operation, ErrNotInHost)
}

// Print writes msg to the host's console log (waPC `__console_log`).
// Outside a host it does nothing.
func Print(msg string) {}
