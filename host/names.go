package host

import (
	"fmt"
	"hash/fnv"
)

// Word lists for friendly host names, wasmCloud style: "brave-otter-0412".
var (
	nameAdjectives = []string{"amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "dusty", "eager",
		"fancy", "gentle", "golden", "happy", "hidden", "jolly", "keen", "lively", "lucky", "mellow",
		"misty", "nimble", "noble", "polished", "proud", "quiet", "rapid", "royal", "rustic", "shiny",
		"silent", "snowy", "solar", "spry", "steady", "sunny", "swift", "tidy", "vivid", "witty"}
	nameNouns = []string{"badger", "beacon", "brook", "canyon", "cedar", "comet", "coral", "delta", "ember", "falcon",
		"fern", "fjord", "glacier", "harbor", "heron", "island", "lagoon", "lantern", "maple", "meadow",
		"mesa", "nebula", "orchid", "otter", "pebble", "pine", "prairie", "quartz", "raven", "reef",
		"ridge", "river", "sparrow", "spruce", "summit", "thistle", "tundra", "valley", "willow", "wren"}
)

// FriendlyName derives a readable name such as "brave-otter-0412" from a
// host id. The same id always gives the same name; two hosts on one
// machine get different ones, unlike the machine's hostname.
func FriendlyName(id string) string {
	f := fnv.New64a()
	f.Write([]byte(id))
	n := f.Sum64()
	adj := nameAdjectives[n%uint64(len(nameAdjectives))]
	n /= uint64(len(nameAdjectives))
	noun := nameNouns[n%uint64(len(nameNouns))]
	n /= uint64(len(nameNouns))
	return fmt.Sprintf("%s-%s-%04d", adj, noun, n%10000)
}
