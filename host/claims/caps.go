package claims

// Well-known capability contract IDs, as wascap defines them. Claims may
// carry any other string too (older actors use "wascc:..." contracts).
const (
	CapBlobstore    = "wasmcloud:blobstore"
	CapHTTPClient   = "wasmcloud:httpclient"
	CapHTTPServer   = "wasmcloud:httpserver"
	CapKeyValue     = "wasmcloud:keyvalue"
	CapMessaging    = "wasmcloud:messaging"
	CapEventStreams = "wasmcloud:eventstreams"
	CapNumberGen    = "wasmcloud:builtin:numbergen"
	CapLogging      = "wasmcloud:builtin:logging"
)

var capNames = map[string]string{
	CapMessaging:    "Messaging",
	CapKeyValue:     "K/V Store",
	CapHTTPServer:   "HTTP Server",
	CapHTTPClient:   "HTTP Client",
	CapBlobstore:    "Blob Store",
	CapEventStreams: "Event Streams",
	CapNumberGen:    "Number Generation",
	CapLogging:      "Logging",
}

// CapabilityName returns a human-friendly name for a well-known contract
// ID ("Messaging" for CapMessaging), or the contract ID itself.
func CapabilityName(contract string) string {
	if n, ok := capNames[contract]; ok {
		return n
	}
	return contract
}
