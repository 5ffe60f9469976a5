package lattice

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Provider control verbs, the last token of HostSubject.
const (
	VerbStartProvider = "start_provider"
	VerbStopProvider  = "stop_provider"
)

// Event types of providers.
const (
	EventProviderStarted   = "provider_started"
	EventProviderStopped   = "provider_stopped"
	EventProviderRestarted = "provider_restarted" // after a panic
)

// StartProviderRequest asks a host to run a built-in provider.
type StartProviderRequest struct {
	// Name is the provider's name: httpserver, keyvalue, messaging, mqtt,
	// coap.
	Name string `json:"name"`
	// LinkName is the link name it serves (default "default").
	LinkName string `json:"link_name,omitempty"`
	// Annotations say who manages the provider, as for actors.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// StopProviderRequest asks a host to stop a provider it runs.
type StopProviderRequest struct {
	Name     string `json:"name"`
	LinkName string `json:"link_name,omitempty"`
}

// ProviderDescription is a provider as a host runs it.
type ProviderDescription struct {
	Name     string `json:"name"`
	Contract string `json:"contract_id"`
	LinkName string `json:"link_name"`
	Links    int    `json:"links"`
	// LinkErrors says, by actor id, why the provider refused a link it
	// was handed; the host hands it again every few seconds and when
	// another of its links goes away (a port may be free again).
	LinkErrors map[string]string `json:"link_errors,omitempty"`
	// Restarts counts the provider's restarts after a panic (each also a
	// provider_restarted event).
	Restarts    int               `json:"restarts,omitempty"`
	StartedAt   time.Time         `json:"started_at"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ProviderReply answers start_provider.
type ProviderReply struct {
	Ack
	Provider *ProviderDescription `json:"provider,omitempty"`
}

// ProviderEventData is the data of provider_* events.
type ProviderEventData struct {
	HostID   string `json:"host_id"`
	Name     string `json:"name"`
	Contract string `json:"contract_id,omitempty"`
	LinkName string `json:"link_name"`
	// Cause is why a restarted provider was replaced.
	Cause string `json:"cause,omitempty"`
}

// AuctionProviderSubject is where a provider auction is held: every host
// whose labels match the constraints, and that does not run the provider
// under that link name yet, bids.
func AuctionProviderSubject(lattice string) string {
	return "wisp.ctl." + lattice + ".auction.provider"
}

// AuctionProviderRequest asks the hosts which of them could run a
// provider.
type AuctionProviderRequest struct {
	Name        string            `json:"name"`
	LinkName    string            `json:"link_name,omitempty"`
	Constraints map[string]string `json:"constraints,omitempty"`
}

// AuctionProvider holds a provider auction and returns the bids, least
// loaded host first.
func (c *Client) AuctionProvider(ctx context.Context, req AuctionProviderRequest) ([]AuctionBid, error) {
	return c.auction(ctx, AuctionProviderSubject(c.lattice), "provider "+req.Name, req, req.Constraints)
}

// StartProvider asks hostID to run a provider and returns it once it
// serves.
func (c *Client) StartProvider(ctx context.Context, hostID string, req StartProviderRequest) (*ProviderDescription, error) {
	var r ProviderReply
	if err := c.request(ctx, hostID, VerbStartProvider, req, &r); err != nil {
		return nil, wrapLocal(err, "start provider %s", req.Name)
	}
	if r.Provider == nil {
		return nil, fmt.Errorf("start provider %s: host %s answered without a description", req.Name, hostID)
	}
	return r.Provider, nil
}

// StopProvider asks hostID to stop a provider.
func (c *Client) StopProvider(ctx context.Context, hostID string, req StopProviderRequest) error {
	var a Ack
	if err := c.request(ctx, hostID, VerbStopProvider, req, &a); err != nil {
		return wrapLocal(err, "stop provider %s", req.Name)
	}
	return nil
}

func (r ProviderReply) ack() Ack { return r.Ack }

// DevicesSubject is where every host answers with the devices its gateway
// providers know.
func DevicesSubject(lattice string) string { return "wisp.ctl." + lattice + ".devices" }

// DeviceInfo is a device as a host reports it.
type DeviceInfo struct {
	HostID     string            `json:"host_id"`
	HostName   string            `json:"host_name"`
	Provider   string            `json:"provider"`
	Name       string            `json:"name"`
	Protocol   string            `json:"protocol"`
	Address    string            `json:"address"`
	Resources  []string          `json:"resources"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Actor      string            `json:"actor"`
	Registered time.Time         `json:"registered"`
	Expires    time.Time         `json:"expires"`
}

// DeviceList is a host's answer on DevicesSubject.
type DeviceList struct {
	Ack
	Devices []DeviceInfo `json:"devices"`
}

// Devices asks every host for the devices its gateways know, sorted by
// name.
func (c *Client) Devices(ctx context.Context) ([]DeviceInfo, error) {
	var out []DeviceInfo
	err := c.gather(ctx, DevicesSubject(c.lattice), nil, func(data []byte) bool {
		var l DeviceList
		if json.Unmarshal(data, &l) != nil || !l.Accepted {
			return false
		}
		out = append(out, l.Devices...)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].HostID < out[j].Name+out[j].HostID })
	return out, nil
}

// Health is "healthy" for a provider that applied every link it was
// handed and never had to be restarted, else "unhealthy: " and why.
func (d ProviderDescription) Health() string {
	var why []string
	if n := len(d.LinkErrors); n > 0 {
		actors := make([]string, 0, n)
		for a := range d.LinkErrors {
			actors = append(actors, a)
		}
		sort.Strings(actors)
		why = append(why, fmt.Sprintf("%d of %d links refused (%s: %s)", n, n+d.Links, actors[0], d.LinkErrors[actors[0]]))
	}
	if d.Restarts > 0 {
		why = append(why, fmt.Sprintf("restarted %d times after a panic", d.Restarts))
	}
	if len(why) == 0 {
		return "healthy"
	}
	return "unhealthy: " + strings.Join(why, "; ")
}
