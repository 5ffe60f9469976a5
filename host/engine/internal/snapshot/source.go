package snapshot

import "embed"

// Source is this package's Go source. Caches of modules rewritten by it are
// keyed by a digest of the code that rewrote them (see package prepared),
// so a build that rewrites differently never reads an older build's output.
//
//go:embed *.go
var Source embed.FS
