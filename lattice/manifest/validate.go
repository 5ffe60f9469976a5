package manifest

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/wisp-dev/wisp/lattice"
)

// Providers says which built-in provider serves a capability: name → the
// contract it implements. The CLI and hosts pass provider.Contracts().
type Providers map[string]string

// Resolve picks the built-in provider of capability c: "wisp:NAME" names
// it; otherwise the last path element of the image's repository, when a
// built-in provider has that name and serves the contract; otherwise the
// one provider serving the contract (messaging before mqtt, which a
// manifest names with wisp:mqtt).
func (p Providers) Resolve(c *Component) (string, error) {
	img, contract := c.Properties.Image, c.Properties.Contract
	if name, ok := strings.CutPrefix(img, "wisp:"); ok {
		got, known := p[name]
		switch {
		case !known:
			return "", fmt.Errorf("image %q: no built-in provider %q (built in: %s)", img, name, p.names())
		case got != contract:
			return "", fmt.Errorf("image %q serves %s, not %s", img, got, contract)
		}
		return name, nil
	}
	if img != "" {
		repo := img
		if i := strings.LastIndexAny(repo, ":@"); i > strings.LastIndexByte(repo, '/') {
			repo = repo[:i]
		}
		if base := path.Base(repo); p[base] == contract {
			return base, nil
		}
	}
	var found []string
	for name, ct := range p {
		if ct == contract {
			found = append(found, name)
		}
	}
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("%w %s (built in: %s)", ErrExternal, contract, p.names())
	case len(found) == 1:
		return found[0], nil
	}
	for _, name := range found {
		if name == "messaging" {
			return name, nil
		}
	}
	return "", fmt.Errorf("providers %v serve %s: name one with image wisp:NAME", found, contract)
}

// ErrExternal reports a capability that no built-in provider serves: an
// external provider (a process of its own, from a third party) serves it,
// as wadm leaves providers it cannot start to whoever runs them. Such a
// component validates; the reconciler puts its links and waits for a
// provider on its subject.
var ErrExternal = errors.New("no built-in provider serves contract")

// External says whether capability c is served by an external provider.
func (p Providers) External(c *Component) bool {
	_, err := p.Resolve(c)
	return errors.Is(err, ErrExternal)
}

func (p Providers) names() string {
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(p)), ", ")
}

// Validate checks what Parse cannot: required fields, unique component
// names, known trait and component types, scalers and weights that add
// up, and linkdefs that point at a capability of the same manifest. When
// providers is not nil, each capability must resolve to one of them. All
// problems are reported, one per line.
func (a *Application) Validate(providers Providers) error {
	var errs []error
	bad := func(line int, field, format string, args ...any) {
		errs = append(errs, a.errorf(line, field, format, args...))
	}
	if a.APIVersion != APIVersion {
		bad(a.Line, "apiVersion", "%q: want %s", a.APIVersion, APIVersion)
	}
	if a.Kind != Kind {
		bad(a.Line, "kind", "%q: want %s", a.Kind, Kind)
	}
	if err := lattice.ValidateName("name", a.Metadata.Name); err != nil {
		bad(a.Metadata.Line, "metadata.name", "%v", err)
	}
	if v := a.Version(); v != "" {
		if err := ValidateVersion(v); err != nil {
			bad(a.Metadata.Line, "metadata.annotations.version", "%v", err)
		}
	}
	if len(a.Spec.Components) == 0 {
		bad(a.Line, "spec.components", "no components: an application needs at least one")
	}
	seen := map[string]int{}
	actorImages := map[string]string{}    // image → first actor component
	providerImages := map[string]string{} // image and link name → first capability
	for i := range a.Spec.Components {
		c := &a.Spec.Components[i]
		where := fmt.Sprintf("component %q", c.Name)
		if c.Name == "" {
			where = fmt.Sprintf("spec.components[%d]", i)
			bad(c.Line, where+": name", "missing")
		} else if err := lattice.ValidateName("name", c.Name); err != nil {
			bad(c.Line, where+": name", "%v (an actor's component name is its call alias)", err)
		} else if first, dup := seen[c.Name]; dup {
			bad(c.Line, where, "duplicate component name (first on line %d)", first)
		} else {
			seen[c.Name] = c.Line
		}
		switch c.Type {
		case TypeActor:
			if c.Properties.Image == "" {
				bad(c.Line, where+": properties.image", "missing: an actor needs an OCI reference or file:///path.wasm")
			} else if first, dup := actorImages[c.Properties.Image]; dup {
				bad(c.Properties.Line, where+": properties.image", "%q is also the image of actor %q: two actor components cannot run one image (wadm refuses it too)", c.Properties.Image, first)
			} else {
				actorImages[c.Properties.Image] = c.Name
			}
			if c.Properties.Contract != "" {
				bad(c.Properties.Line, where+": properties.contract", "an actor has no contract (capabilities do)")
			}
		case TypeCapability:
			if c.Properties.Contract == "" {
				bad(c.Line, where+": properties.contract", "missing: a capability names the contract it serves, e.g. wasmcloud:httpserver")
			} else if err := lattice.ValidateContract(c.Properties.Contract); err != nil {
				bad(c.Properties.Line, where+": properties.contract", "%v", err)
			} else if providers != nil {
				if _, err := providers.Resolve(c); err != nil && !errors.Is(err, ErrExternal) {
					bad(c.Properties.Line, where+": properties.image", "%v", err)
				}
			}
			if ln := c.Properties.LinkName; ln != "" {
				if err := lattice.ValidateName("link name", ln); err != nil {
					bad(c.Properties.Line, where+": properties.link_name", "%v", err)
				}
			}
			if img := c.Properties.Image; img != "" {
				key := img + "\x00" + c.Properties.LinkNameOrDefault()
				if first, dup := providerImages[key]; dup {
					bad(c.Properties.Line, where+": properties.image", "%q under link name %q is also capability %q: two providers need another image or link name (wadm refuses it too)",
						img, c.Properties.LinkNameOrDefault(), first)
				} else {
					providerImages[key] = c.Name
				}
			}
		case "":
			bad(c.Line, where+": type", "missing: want %s or %s", TypeActor, TypeCapability)
		default:
			bad(c.Line, where+": type", "%q: want %s or %s", c.Type, TypeActor, TypeCapability)
		}
		a.validateTraits(c, where, bad)
	}
	if n := a.replicas(); n > MaxAppReplicas {
		bad(a.Line, "spec.components", "%d replicas in all: above the ceiling of %d replicas per application", n, MaxAppReplicas)
	}
	// Links are checked once every component is known.
	for i := range a.Spec.Components {
		c := &a.Spec.Components[i]
		targets := map[string]bool{}
		for _, t := range c.Traits {
			if t.Link == nil {
				continue
			}
			where := fmt.Sprintf("component %q: trait linkdef", c.Name)
			tc, ok := a.Component(t.Link.Target)
			switch {
			case c.Type == TypeCapability:
				bad(t.Line, where, "a capability cannot have a linkdef: put it on the actor that uses the capability")
			case t.Link.Target == "":
				bad(t.Line, where+": target", "missing: name the capability component to link to")
			case !ok:
				bad(t.Line, where+": target", "%q: no component of that name in this manifest (components: %s)", t.Link.Target, a.componentNames())
			case tc.Type != TypeCapability:
				bad(t.Line, where+": target", "%q is an %s: a linkdef targets a capability", t.Link.Target, tc.Type)
			case targets[t.Link.Target]:
				bad(t.Line, where+": target", "%q is linked twice", t.Link.Target)
			}
			targets[t.Link.Target] = true
		}
	}
	return errors.Join(errs...)
}

// Ceilings on what a manifest may ask for, whatever the lattice: a
// manifest above them is refused by validation, before a host is asked to
// instantiate anything. A host has its own, lower ceilings (wisp up
// --max-instances, --max-host-instances) and refuses what exceeds them.
const (
	// MaxComponentReplicas bounds the replicas of one component: a
	// spreadscaler's over the lattice, a daemonscaler's on each host.
	MaxComponentReplicas = 10_000
	// MaxAppReplicas bounds the replicas of all of an application's
	// components together.
	MaxAppReplicas = 100_000
)

func (a *Application) validateTraits(c *Component, where string, bad func(int, string, string, ...any)) {
	scalers := 0
	for _, t := range c.Traits {
		tw := where + ": trait " + t.Type
		var replicas int
		var spreads []Spread
		var surge, unavail string
		switch {
		case t.Spread != nil:
			replicas, spreads = t.Spread.Replicas, t.Spread.Spread
			surge, unavail = t.Spread.MaxSurge, t.Spread.MaxUnavailable
		case t.Daemon != nil:
			replicas, spreads = t.Daemon.Replicas, t.Daemon.Spread
			surge, unavail = t.Daemon.MaxSurge, t.Daemon.MaxUnavailable
		default:
			continue
		}
		if _, err := rolloutCount(surge, replicas); err != nil {
			bad(t.Line, tw+": maxSurge", "%v", err)
		}
		if _, err := rolloutCount(unavail, replicas); err != nil {
			bad(t.Line, tw+": maxUnavailable", "%v", err)
		}
		if _, err := c.rolloutPolicy(); err != nil {
			bad(t.Line, tw+": rollout", "%v", err)
		}
		if scalers++; scalers == 2 {
			bad(t.Line, tw, "a component has one scaler (spreadscaler or daemonscaler), this is the second")
		}
		if t.Spread != nil && !t.counted {
			bad(t.Line, tw+": replicas", "missing: a spreadscaler says how many replicas to run (wadm refuses it too)")
		}
		if replicas < 0 {
			bad(t.Line, tw+": replicas", "%d: want 0 or more", replicas)
		}
		if replicas > MaxComponentReplicas {
			bad(t.Line, tw+": replicas", "%d: above the ceiling of %d replicas per component, which no lattice admits (split the component, or run fewer, larger instances)", replicas, MaxComponentReplicas)
		}
		if t.Daemon != nil && c.Type == TypeCapability && replicas > 1 {
			bad(t.Line, tw+": replicas", "%d: a host runs a provider once per link name; want 1", replicas)
		}
		names, sum := map[string]bool{}, 0
		for k, s := range spreads {
			sw := fmt.Sprintf("%s: spread[%d]", tw, k)
			if s.Name != "" {
				sw = fmt.Sprintf("%s: spread %q", tw, s.Name)
				if names[s.Name] {
					bad(s.Line, sw, "duplicate spread name")
				}
				names[s.Name] = true
			}
			if s.Weight != nil && *s.Weight < 0 {
				bad(s.Line, sw+": weight", "%d: want 0 or more", *s.Weight)
			} else {
				sum += s.W()
			}
			for k, v := range s.Requirements {
				if k == "" || strings.ContainsAny(k, " \t\n") {
					bad(s.Line, sw+": requirements", "label %q: a label key has no spaces", k)
				}
				if strings.ContainsAny(v, "\t\n") {
					bad(s.Line, sw+": requirements."+k, "the value has a control character")
				}
			}
		}
		if t.Spread != nil && len(spreads) > 0 && sum == 0 && replicas > 0 {
			bad(t.Line, tw+": spread", "every weight is 0: at least one spread needs a positive weight to place %d replicas", replicas)
		}
	}
}

func (a *Application) componentNames() string {
	var out []string
	for _, c := range a.Spec.Components {
		out = append(out, c.Name)
	}
	return strings.Join(out, ", ")
}

// ValidateVersion checks a version: 1 to 64 letters, digits, '.', '-',
// '_' or '+'.
func ValidateVersion(v string) error {
	if v == "" || len(v) > 64 {
		return fmt.Errorf("version %q: want 1 to 64 characters", v)
	}
	if i := strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_+", r))
	}); i >= 0 {
		return fmt.Errorf("version %q: character %q is not allowed (use letters, digits, '.', '-', '_' and '+')", v, v[i])
	}
	return nil
}

// replicas adds up the replicas every scaler of the application asks for
// (a daemonscaler's once, as for one host), saturating rather than
// overflowing.
func (a *Application) replicas() int {
	n := 0
	for _, c := range a.Spec.Components {
		for _, t := range c.Traits {
			r := 0
			switch {
			case t.Spread != nil:
				r = t.Spread.Replicas
			case t.Daemon != nil:
				r = t.Daemon.Replicas
			}
			if r > 0 {
				n = min(n+min(r, MaxAppReplicas+1), MaxAppReplicas+1)
			}
		}
	}
	return n
}
