package ui

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wisp-dev/wisp/lattice"
)

// Metrics the dashboard reads from a host's /metrics (see host/metrics).
const (
	metricInvocations = "wisp_actor_invocations_total"
	metricDuration    = "wisp_actor_invocation_duration_seconds"
)

// rateWindow is how far back rates and the p99 look: the oldest sample of
// a host younger than this is compared with the newest.
const rateWindow = 30 * time.Second

// minScrape is the shortest time between two scrapes of one host; reads
// the events ask for in between reuse the last figures.
const minScrape = 2 * time.Second

// actorSample is one actor's counters in one scrape.
type actorSample struct {
	calls, errors float64
	// buckets are the duration histogram's cumulative counts by upper
	// bound, summed over operations.
	buckets map[float64]float64
}

// sample is one scrape of a host.
type sample struct {
	at     time.Time
	actors map[string]actorSample
}

// ActorRates are an actor's rates on one host from its metrics.
type ActorRates struct {
	CallsPerSec  float64 `json:"calls_per_sec"`
	ErrorsPerSec float64 `json:"errors_per_sec"`
	// P99Seconds is the 99th percentile of the calls in the window; nil
	// when there were none.
	P99Seconds *float64 `json:"p99_seconds,omitempty"`
}

// scraper reads the hosts' Prometheus metrics, at the address their
// lattice.LabelMetrics label gives, and keeps a short history per host.
type scraper struct {
	client *http.Client
	mu     sync.Mutex
	hist   map[string][]sample // by host id, oldest first
}

func newScraper() *scraper {
	return &scraper{client: &http.Client{Timeout: 2 * time.Second}, hist: map[string][]sample{}}
}

// rates scrapes every host that serves metrics (at most every minScrape)
// and returns, by host id and actor, the rates over the window; errs says
// by host id why a scrape failed.
func (s *scraper) rates(ctx context.Context, hosts []lattice.HostSummary) (map[string]map[string]ActorRates, map[string]error) {
	var wg sync.WaitGroup
	var emu sync.Mutex
	errs := map[string]error{}
	now := time.Now()
	live := map[string]bool{}
	for _, h := range hosts {
		url := h.Labels[lattice.LabelMetrics]
		if url == "" {
			continue
		}
		live[h.ID] = true
		s.mu.Lock()
		hist := s.hist[h.ID]
		fresh := len(hist) > 0 && now.Sub(hist[len(hist)-1].at) < minScrape
		s.mu.Unlock()
		if fresh {
			continue
		}
		wg.Add(1)
		go func(id, url string) {
			defer wg.Done()
			smp, err := s.scrape(ctx, url)
			if err != nil {
				emu.Lock()
				errs[id] = err
				emu.Unlock()
				return
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			hist := append(s.hist[id], smp)
			for len(hist) > 2 && smp.at.Sub(hist[1].at) >= rateWindow {
				hist = hist[1:]
			}
			s.hist[id] = hist
		}(h.ID, url)
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]ActorRates{}
	for id, hist := range s.hist {
		if !live[id] {
			delete(s.hist, id)
			continue
		}
		if len(hist) < 2 {
			continue
		}
		old, cur := hist[0], hist[len(hist)-1]
		dt := cur.at.Sub(old.at).Seconds()
		m := map[string]ActorRates{}
		for name, a := range cur.actors {
			b := old.actors[name]
			r := ActorRates{CallsPerSec: nonNeg(a.calls-b.calls) / dt, ErrorsPerSec: nonNeg(a.errors-b.errors) / dt}
			if p, ok := quantile(0.99, a.buckets, b.buckets); ok {
				r.P99Seconds = &p
			}
			m[name] = r
		}
		out[id] = m
	}
	return out, errs
}

func nonNeg(x float64) float64 { return math.Max(0, x) }

// scrape reads one host's metrics.
func (s *scraper) scrape(ctx context.Context, url string) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sample{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return sample{}, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("metrics %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return sample{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	smp := sample{at: time.Now(), actors: map[string]actorSample{}}
	get := func(name string) actorSample {
		a, ok := smp.actors[name]
		if !ok {
			a.buckets = map[float64]float64{}
		}
		return a
	}
	if f := fams[metricInvocations]; f != nil {
		for _, m := range f.GetMetric() {
			name := label(m, "actor")
			a := get(name)
			v := m.GetCounter().GetValue()
			a.calls += v
			if label(m, "outcome") != "ok" {
				a.errors += v
			}
			smp.actors[name] = a
		}
	}
	if f := fams[metricDuration]; f != nil {
		for _, m := range f.GetMetric() {
			name := label(m, "actor")
			a := get(name)
			for _, b := range m.GetHistogram().GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) { // the count stands for +Inf
					a.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
			a.buckets[math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
			smp.actors[name] = a
		}
	}
	return smp, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantile is the q-quantile of the observations between two cumulative
// histograms (cur minus old), interpolated linearly inside its bucket as
// Prometheus's histogram_quantile does; false when there were none.
func quantile(q float64, cur, old map[float64]float64) (float64, bool) {
	bounds := make([]float64, 0, len(cur))
	for b := range cur {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0, false
	}
	total := nonNeg(cur[bounds[len(bounds)-1]] - old[bounds[len(bounds)-1]])
	if total == 0 {
		return 0, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		n := nonNeg(cur[b] - old[b])
		if n >= rank {
			if math.IsInf(b, 1) {
				return lower, true // above the highest bound: say the bound
			}
			if n == below {
				return b, true
			}
			return lower + (b-lower)*(rank-below)/(n-below), true
		}
		lower, below = b, n
	}
	return lower, true
}
