// Command mqtt-relay turns sensor readings into records: a reading of
// degrees Celsius published on sensors/<name> is republished on
// relay/<name> as {"sensor":"<name>","celsius":C,"fahrenheit":F}; a reading
// that is not a number goes to relay/errors.
//
//	wisp build ./actors/mqtt-relay --cap wasmcloud:messaging
//	wisp link put mqtt_relay mqtt wasmcloud:messaging URI=tcp://127.0.0.1:1883 SUBSCRIPTION=sensors/+
package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/wisp-dev/wisp/sdk/messaging"
)

func init() {
	messaging.Handle(func(ctx context.Context, m messaging.Message) error {
		name := m.Subject[strings.LastIndex(m.Subject, "/")+1:]
		c, err := strconv.ParseFloat(strings.TrimSpace(string(m.Body)), 64)
		if err != nil {
			return messaging.Publish(ctx, "relay/errors", "", []byte(name+": not a number: "+string(m.Body)))
		}
		f := c*9/5 + 32
		rec := `{"sensor":` + strconv.Quote(name) +
			`,"celsius":` + strconv.FormatFloat(c, 'f', -1, 64) +
			`,"fahrenheit":` + strconv.FormatFloat(f, 'f', 1, 64) + `}`
		return messaging.Publish(ctx, "relay/"+name, "", []byte(rec))
	})
}

func main() {}
