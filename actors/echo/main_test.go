package main

import (
	"testing"

	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestReplyAnswersWithThePayload(t *testing.T) {
	h := sdktest.New(t)
	if out, err := h.Call("Echo.Reply", []byte("hello")); err != nil || string(out) != "hello" {
		t.Fatalf("Echo.Reply = %q, %v", out, err)
	}
	if len(h.Calls()) != 0 {
		t.Fatalf("echo made host calls: %+v", h.Calls())
	}
}
