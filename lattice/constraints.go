package lattice

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrBadConstraint reports a label constraint that is not key=value.
var ErrBadConstraint = errors.New("bad constraint")

// ParseConstraints parses key=value pairs as given to --constraint. A pair
// without '=', an empty key, a key or value with spaces, or a key given
// twice with different values is an error wrapping ErrBadConstraint.
func ParseConstraints(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w %q: want key=value", ErrBadConstraint, p)
		case strings.TrimSpace(k) == "":
			return nil, fmt.Errorf("%w %q: the key is empty", ErrBadConstraint, p)
		case strings.ContainsAny(k, " \t\n="):
			return nil, fmt.Errorf("%w %q: the key has a space", ErrBadConstraint, p)
		case strings.ContainsAny(v, "\t\n"):
			return nil, fmt.Errorf("%w %q: the value has a control character", ErrBadConstraint, p)
		}
		if old, dup := out[k]; dup && old != v {
			return nil, fmt.Errorf("%w: %s is constrained to both %q and %q", ErrBadConstraint, k, old, v)
		}
		out[k] = v
	}
	return out, nil
}

// Matches reports whether a host with labels satisfies constraints: every
// constraint key is present with the same value (a subset match). No
// constraints match every host.
func Matches(labels, constraints map[string]string) bool {
	for k, v := range constraints {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// FormatConstraints writes constraints as sorted k=v pairs, for messages.
func FormatConstraints(c map[string]string) string {
	if len(c) == 0 {
		return "(none)"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		out = append(out, k+"="+c[k])
	}
	return strings.Join(out, ",")
}
