// Package query reads a value from a URL query string ("a=1&b=x+y") as
// net/url's ParseQuery and Values.Get do, without net/url, which imports
// fmt and would add most of a megabyte to an actor's module.
package query

import "strings"

// Get returns the first value of name in the query string raw, decoded
// ('+' is a space, %XX a byte), or "" when raw has none. A pair that does
// not decode is skipped, as ParseQuery skips it.
func Get(raw, name string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue // net/url skips empty pairs and refuses semicolons
		}
		k, v, _ := strings.Cut(pair, "=")
		k, ok := unescape(k)
		if !ok || k != name {
			continue
		}
		if v, ok = unescape(v); ok {
			return v
		}
	}
	return ""
}

// unescape decodes s as a query component.
func unescape(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b = append(b, hi<<4|lo)
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
