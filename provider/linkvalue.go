package provider

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// ValueError is a link value that does not parse or is out of range. Its
// message names the link, the key and what the key wants:
//
//	link relay/wasmcloud:messaging/default: QOS "7": want an integer from 0 to 2
type ValueError struct {
	Link  string // the link's Key
	Key   string // the key as the provider reads it, e.g. "QOS"
	Value string // the value as given
	Want  string // what the key takes
}

func (e *ValueError) Error() string {
	return "link " + e.Link + ": " + e.Key + " " + strconv.Quote(e.Value) + ": want " + e.Want
}

func (l Link) bad(k, v, want string) error {
	return &ValueError{Link: l.Key(), Key: k, Value: v, Want: want}
}

// Int returns the link value of key k as an integer from min to max, or
// def when the link has none. A value that is no integer, or one out of
// range, is a *ValueError.
//
//	qos, err := l.Int("QOS", 1, 0, 2)
func (l Link) Int(k string, def, min, max int64) (int64, error) {
	v := l.Value(k, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, l.bad(k, v, "an integer"+span(min, max))
	}
	return n, nil
}

// Bool returns the link value of key k as a boolean ("true", "false", "1",
// "0" and the other forms strconv.ParseBool reads), or def when the link
// has none. Anything else is a *ValueError.
func (l Link) Bool(k string, def bool) (bool, error) {
	v := l.Value(k, "")
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, l.bad(k, v, "true or false")
	}
	return b, nil
}

// Duration returns the link value of key k, a whole number of unit (the
// key says which: "timeout_ms" is in milliseconds), as a duration from min
// to max, or def when the link has none. Anything else is a *ValueError.
//
//	timeout, err := l.Duration("timeout_ms", time.Millisecond, 30*time.Second, time.Millisecond, time.Hour)
func (l Link) Duration(k string, unit, def, min, max time.Duration) (time.Duration, error) {
	v := l.Value(k, "")
	if v == "" {
		return def, nil
	}
	lo, hi := int64(min/unit), int64(max/unit)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, l.bad(k, v, "a whole number of "+unitName(unit)+span(lo, hi))
	}
	return time.Duration(n) * unit, nil
}

// List returns the link value of key k split at commas, each item trimmed
// of spaces, empty items dropped: "a, b,,c" is [a b c]. No value is an
// empty list.
func (l Link) List(k string) []string {
	var out []string
	for _, s := range strings.Split(l.Value(k, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// span says the range min..max in words, for an error.
func span(min, max int64) string {
	switch {
	case min == math.MinInt64 && max == math.MaxInt64:
		return ""
	case max == math.MaxInt64:
		return " of at least " + strconv.FormatInt(min, 10)
	case min == math.MinInt64:
		return " of at most " + strconv.FormatInt(max, 10)
	}
	return " from " + strconv.FormatInt(min, 10) + " to " + strconv.FormatInt(max, 10)
}

func unitName(unit time.Duration) string {
	switch unit {
	case time.Millisecond:
		return "milliseconds"
	case time.Second:
		return "seconds"
	case time.Minute:
		return "minutes"
	case time.Hour:
		return "hours"
	}
	return unit.String() + "s"
}
