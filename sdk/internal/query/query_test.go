package query

import (
	"net/url"
	"testing"
)

// TestAgreesWithNetURL: Get reads what url.ParseQuery and Values.Get read.
func TestAgreesWithNetURL(t *testing.T) {
	for _, raw := range []string{
		"", "name=Ada", "a=1&name=Ada+Lovelace&name=Grace", "name=%41da%21", "name", "name=",
		"x=%zz&name=ok", "name=%zz&name=ok", "name=%4", "n%61me=enc", "a;b=1&name=semi", "name=a;b&name=c",
		"&&name=x&&", "name=%2B+%26",
	} {
		v, _ := url.ParseQuery(raw)
		if got, want := Get(raw, "name"), v.Get("name"); got != want {
			t.Errorf("Get(%q) = %q, net/url reads %q", raw, got, want)
		}
	}
}

func FuzzAgreesWithNetURL(f *testing.F) {
	f.Add("name=Ada+%41&x=1", "name")
	f.Fuzz(func(t *testing.T, raw, name string) {
		v, _ := url.ParseQuery(raw)
		if got, want := Get(raw, name), v.Get(name); got != want {
			t.Fatalf("Get(%q, %q) = %q, net/url reads %q", raw, name, got, want)
		}
	})
}
