package main

import (
	"testing"

	"github.com/wisp-dev/wisp/sdk/messaging"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestRelaysReadingsAsRecords(t *testing.T) {
	h := sdktest.New(t)
	for _, m := range []messaging.Message{
		{Subject: "sensors/kitchen", Body: []byte(" 21.5\n")},
		{Subject: "sensors/attic", Body: []byte("warm")},
	} {
		if err := h.Message(m); err != nil {
			t.Fatalf("%s: %v", m.Subject, err)
		}
	}
	pub := h.Published()
	if len(pub) != 2 {
		t.Fatalf("published %+v", pub)
	}
	if pub[0].Subject != "relay/kitchen" || string(pub[0].Body) != `{"sensor":"kitchen","celsius":21.5,"fahrenheit":70.7}` {
		t.Fatalf("the reading became %s %s", pub[0].Subject, pub[0].Body)
	}
	if pub[1].Subject != "relay/errors" || string(pub[1].Body) != "attic: not a number: warm" {
		t.Fatalf("the bad reading became %s %s", pub[1].Subject, pub[1].Body)
	}
}
