// Package fakehost holds the host that an actor's host calls reach when the
// actor runs outside a wisp host, as in its unit tests. Built for wasip1
// the SDK calls the real host through the waPC imports and never looks
// here; built for any other GOOS it asks Current, and the sdktest package
// installs a fake host with Install.
package fakehost

import (
	"context"
	"sync"
)

// Host serves an actor's host calls in place of a wisp host.
type Host interface {
	// HostCall runs operation in namespace over binding, as sdk.HostCall.
	HostCall(ctx context.Context, binding, namespace, operation string, payload []byte) ([]byte, error)
	// ConsoleLog receives what the actor writes with sdk.Print.
	ConsoleLog(msg string)
}

var (
	mu      sync.Mutex
	current Host
)

// Install makes h the host of every later host call and returns the host
// it replaces (nil for none). Install(nil) removes the fake host.
func Install(h Host) (previous Host) {
	mu.Lock()
	defer mu.Unlock()
	previous, current = current, h
	return previous
}

// Current returns the installed host, or nil.
func Current() Host {
	mu.Lock()
	defer mu.Unlock()
	return current
}
