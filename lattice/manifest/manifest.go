// Package manifest reads application manifests: wadm's OAM form
// (apiVersion core.oam.dev/v1beta1, kind Application), in YAML or JSON, so
// that a manifest written for wasmCloud deploys on wisp with at most its
// image references changed.
//
//	apiVersion: core.oam.dev/v1beta1
//	kind: Application
//	metadata:
//	  name: echo
//	  annotations:
//	    version: v1
//	spec:
//	  components:
//	    - name: echo
//	      type: actor
//	      properties:
//	        image: registry.example.com/echo:0.1.0   # or file:///abs/echo.wasm
//	      traits:
//	        - type: spreadscaler
//	          properties:
//	            replicas: 5
//	            spread:
//	              - name: east
//	                requirements: {zone: east}
//	                weight: 80
//	              - name: west
//	                requirements: {zone: west}
//	                weight: 20
//
// Parse checks the syntax and Validate the meaning; both name the line and
// the field of what is wrong. Plan (spread.go) turns a component's scaler
// into instances per host.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Values of the fixed fields.
const (
	APIVersion = "core.oam.dev/v1beta1"
	Kind       = "Application"

	TypeActor      = "actor"
	TypeCapability = "capability"

	TraitSpread = "spreadscaler"
	TraitDaemon = "daemonscaler"
	TraitLink   = "linkdef"

	// AnnotationVersion is the metadata annotation naming the version.
	AnnotationVersion = "version"
	// AnnotationDescription is the metadata annotation describing the app.
	AnnotationDescription = "description"

	// DefaultWeight is the weight of a spread entry that gives none, as
	// in wadm.
	DefaultWeight = 100
)

// ErrInvalid is wrapped by every error Parse and Validate return.
var ErrInvalid = errors.New("invalid manifest")

// Application is a parsed manifest.
type Application struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   Metadata  `yaml:"metadata"`
	Spec       Spec      `yaml:"spec"`
	Source     string    `yaml:"-"` // file name for messages; may be empty
	Line       int       `yaml:"-"`
	Raw        []byte    `yaml:"-"` // the text Parse read
	root       yaml.Node `yaml:"-"`
}

// Metadata names and describes the application.
type Metadata struct {
	Name        string            `yaml:"name"`
	Annotations map[string]string `yaml:"annotations"`
	Line        int               `yaml:"-"`
}

// Spec lists the components.
type Spec struct {
	Components []Component `yaml:"components"`
}

// Component is an actor or a capability provider with its traits.
type Component struct {
	Name       string     `yaml:"name"`
	Type       string     `yaml:"type"`
	Properties Properties `yaml:"properties"`
	Traits     []Trait    `yaml:"traits"`
	Line       int        `yaml:"-"`
}

// Properties of a component. Actors have an Image; capabilities have a
// Contract and, optionally, an Image, a LinkName and Config.
type Properties struct {
	// Image is an OCI reference or file:///absolute/path.wasm for an
	// actor; for a capability, "wisp:NAME" names a built-in provider,
	// and any other reference picks the built-in provider of its
	// repository's last path element or, failing that, of its contract.
	Image    string `yaml:"image"`
	Contract string `yaml:"contract"`
	LinkName string `yaml:"link_name"`
	// Config of a capability is merged into the values of every link to
	// it; a linkdef's own values win.
	Config map[string]string `yaml:"-"`
	Line   int               `yaml:"-"`
}

// Trait is a scaler or a link definition.
type Trait struct {
	Type string `yaml:"type"`
	// Exactly one of these is set, by Type.
	Spread *SpreadScaler `yaml:"-"`
	Daemon *DaemonScaler `yaml:"-"`
	Link   *LinkDef      `yaml:"-"`
	Line   int           `yaml:"-"`
	// counted says a scaler's properties gave replicas (or wadm's
	// instances): wadm refuses a spreadscaler without a count.
	counted bool
}

// SpreadScaler runs Replicas instances in all, split across the spread
// entries by weight. For a capability, Replicas counts hosts, each
// running the provider once.
type SpreadScaler struct {
	Replicas int      `yaml:"replicas"`
	Spread   []Spread `yaml:"spread"`
	// MaxSurge and MaxUnavailable (wisp extensions, a count or a
	// percentage of Replicas) bound a rolling update: see RolloutBatch.
	MaxSurge       string `yaml:"maxSurge"`
	MaxUnavailable string `yaml:"maxUnavailable"`
	// Rollout (a wisp extension) chooses how a new version rolls out:
	// see RolloutPolicy.
	Rollout *Rollout `yaml:"rollout"`
}

// DaemonScaler runs Replicas instances on every host that matches one of
// the spread entries' requirements (every host when there are none).
type DaemonScaler struct {
	Replicas int      `yaml:"replicas"`
	Spread   []Spread `yaml:"spread"`
	// MaxSurge and MaxUnavailable (wisp extensions, a count or a
	// percentage of Replicas) bound a rolling update: see RolloutBatch.
	MaxSurge       string `yaml:"maxSurge"`
	MaxUnavailable string `yaml:"maxUnavailable"`
	// Rollout (a wisp extension) chooses how a new version rolls out:
	// see RolloutPolicy.
	Rollout *Rollout `yaml:"rollout"`
}

// Spread is one share of a scaler: hosts whose labels include every
// requirement take Weight parts of the replicas.
type Spread struct {
	Name         string            `yaml:"name"`
	Requirements map[string]string `yaml:"requirements"`
	// Weight is nil when the manifest gives none (DefaultWeight).
	Weight *int `yaml:"weight"`
	Line   int  `yaml:"-"`
}

// W is the spread's weight, DefaultWeight when it gives none.
func (s Spread) W() int {
	if s.Weight == nil {
		return DefaultWeight
	}
	return *s.Weight
}

// LinkDef links the actor it belongs to with the capability component
// Target, with Values for the provider.
type LinkDef struct {
	Target string            `yaml:"target"`
	Values map[string]string `yaml:"values"`
}

// Version is the manifest's version annotation, or "".
func (a *Application) Version() string { return a.Metadata.Annotations[AnnotationVersion] }

// Component returns the component named name.
func (a *Application) Component(name string) (*Component, bool) {
	for i := range a.Spec.Components {
		if a.Spec.Components[i].Name == name {
			return &a.Spec.Components[i], true
		}
	}
	return nil, false
}

// Scaler returns the component's spread or daemon scaler (one of the two
// is nil), or two nils when it has none.
func (c *Component) Scaler() (*SpreadScaler, *DaemonScaler) {
	for _, t := range c.Traits {
		if t.Spread != nil || t.Daemon != nil {
			return t.Spread, t.Daemon
		}
	}
	return nil, nil
}

// Links returns the component's link definitions.
func (c *Component) Links() []LinkDef {
	var out []LinkDef
	for _, t := range c.Traits {
		if t.Link != nil {
			out = append(out, *t.Link)
		}
	}
	return out
}

// LinkNameOrDefault is the capability's link name, "default" when unset.
func (p Properties) LinkNameOrDefault() string {
	if p.LinkName == "" {
		return "default"
	}
	return p.LinkName
}

// Parse reads a manifest in YAML or JSON (JSON is YAML). source names it in
// error messages ("app.yaml:12: ..."). It checks the syntax and the types
// of fields; Validate checks the rest.
func Parse(source string, data []byte) (*Application, error) {
	a := &Application{Source: source, Raw: bytes.Clone(data)}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, a.errorf(0, "", "the manifest is empty")
	}
	if err := yaml.Unmarshal(data, &a.root); err != nil {
		return nil, a.wrapYAML(err)
	}
	doc := &a.root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, a.errorf(doc.Line, "", "the manifest is not a mapping (want apiVersion, kind, metadata, spec)")
	}
	if err := doc.Decode(a); err != nil {
		return nil, a.wrapYAML(err)
	}
	a.Line = doc.Line
	if m := field(doc, "metadata"); m != nil {
		a.Metadata.Line = m.Line
	}
	comps := field(field(doc, "spec"), "components")
	if comps != nil && comps.Kind != yaml.SequenceNode {
		return nil, a.errorf(comps.Line, "spec.components", "want a list of components")
	}
	for i := range a.Spec.Components {
		n := comps.Content[i]
		if n.Kind != yaml.MappingNode {
			return nil, a.errorf(n.Line, fmt.Sprintf("spec.components[%d]", i), "want a component (name, type, properties, traits)")
		}
		if err := a.readComponent(&a.Spec.Components[i], n, i); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// readComponent fills what plain decoding cannot: line numbers, config
// values of any scalar type, and each trait's typed properties.
func (a *Application) readComponent(c *Component, n *yaml.Node, i int) error {
	c.Line = n.Line
	path := fmt.Sprintf("spec.components[%d]", i)
	if c.Name != "" {
		path = fmt.Sprintf("component %q", c.Name)
	}
	if p := field(n, "properties"); p != nil {
		c.Properties.Line = p.Line
		if cfg := field(p, "config"); cfg != nil {
			m, err := a.config(cfg, path+": properties.config")
			if err != nil {
				return err
			}
			c.Properties.Config = m
		}
	}
	traits := field(n, "traits")
	if traits == nil {
		return nil
	}
	if traits.Kind != yaml.SequenceNode {
		return a.errorf(traits.Line, path+": traits", "want a list of traits")
	}
	for j, tn := range traits.Content {
		if tn.Kind != yaml.MappingNode || j >= len(c.Traits) {
			return a.errorf(tn.Line, fmt.Sprintf("%s: traits[%d]", path, j), "want a trait (type, properties)")
		}
		t := &c.Traits[j]
		t.Line = tn.Line
		props := field(tn, "properties")
		what := fmt.Sprintf("%s: trait %q", path, t.Type)
		var target any
		switch t.Type {
		case TraitSpread:
			t.Spread = &SpreadScaler{}
			target = t.Spread
		case TraitDaemon:
			t.Daemon = &DaemonScaler{}
			target = t.Daemon
		case TraitLink:
			t.Link = &LinkDef{}
			if props != nil {
				if v := field(props, "values"); v != nil {
					m, err := a.stringMap(v, what+": values")
					if err != nil {
						return err
					}
					t.Link.Values = m
				}
				if tg := field(props, "target"); tg != nil {
					t.Link.Target = tg.Value
				}
			}
			continue
		case "":
			return a.errorf(tn.Line, path+": traits", "a trait has no type (want %s, %s or %s)", TraitSpread, TraitDaemon, TraitLink)
		default:
			return a.errorf(tn.Line, path+": traits", "unknown trait type %q (want %s, %s or %s)", t.Type, TraitSpread, TraitDaemon, TraitLink)
		}
		if props == nil {
			continue
		}
		t.counted = field(props, "replicas") != nil || field(props, "instances") != nil
		// wadm's first manifests said "instances"; read it as replicas.
		if r := field(props, "instances"); r != nil && field(props, "replicas") == nil {
			if err := r.Decode(&replicasOf(t).Replicas); err != nil {
				return a.wrapYAML(err)
			}
		}
		if err := props.Decode(target); err != nil {
			return a.wrapYAML(err)
		}
		if sp := field(props, "spread"); sp != nil && sp.Kind == yaml.SequenceNode {
			spreads := spreadsOf(t)
			for k := range min(len(*spreads), len(sp.Content)) {
				(*spreads)[k].Line = sp.Content[k].Line
			}
		}
	}
	return nil
}

func replicasOf(t *Trait) *SpreadScaler {
	if t.Spread != nil {
		return t.Spread
	}
	return (*SpreadScaler)(t.Daemon)
}

func spreadsOf(t *Trait) *[]Spread {
	if t.Spread != nil {
		return &t.Spread.Spread
	}
	return &t.Daemon.Spread
}

// stringMap reads a mapping of scalars (strings, numbers, booleans) as
// strings, the way link values and configuration are passed on.
func (a *Application) stringMap(n *yaml.Node, what string) (map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, a.errorf(n.Line, what, "want a mapping of keys to values")
	}
	out := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nil, a.errorf(v.Line, what+"."+k.Value, "want a plain value (string, number or boolean), not a list or mapping")
		}
		out[k.Value] = v.Value
	}
	return out, nil
}

// config reads a capability's config: a mapping of scalars, or, as wadm
// accepts, a string holding a JSON object of them (a provider's
// configuration JSON); any other string is passed on as the value "config".
func (a *Application) config(n *yaml.Node, what string) (map[string]string, error) {
	if n.Kind != yaml.ScalarNode {
		return a.stringMap(n, what)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(n.Value), &obj); err != nil || obj == nil {
		return map[string]string{"config": n.Value}, nil
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			out[k] = v
		case float64, bool:
			out[k] = fmt.Sprint(v)
		default:
			return nil, a.errorf(n.Line, what+"."+k, "want a plain value (string, number or boolean) in the JSON, not a list or object")
		}
	}
	return out, nil
}

// field returns the value node of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// errorf builds an error naming the source, line and field.
func (a *Application) errorf(line int, field, format string, args ...any) error {
	var b strings.Builder
	if a.Source != "" {
		b.WriteString(a.Source)
	} else {
		b.WriteString("manifest")
	}
	if line > 0 {
		b.WriteString(":" + strconv.Itoa(line))
	}
	b.WriteString(": ")
	if field != "" {
		b.WriteString(field + ": ")
	}
	return fmt.Errorf("%s%w", b.String(), &fieldError{msg: fmt.Sprintf(format, args...)})
}

// wrapYAML turns the YAML library's errors ("yaml: line 3: ...") into ours.
func (a *Application) wrapYAML(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.Join(te.Errors, "; ")
	}
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	return a.errorf(line, "", "%s", msg)
}

// fieldError is the message part of a manifest error; it unwraps to
// ErrInvalid.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }
func (e *fieldError) Unwrap() error { return ErrInvalid }
