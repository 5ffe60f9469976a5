package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

func openStore(t *testing.T) *app.Store {
	t.Helper()
	ctx := context.Background()
	nc := authtest.Start(t, natsserver.Config{Port: -1}).ConnectInProcess(t, auth.AdminUser)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := app.Open(ctx, js, "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parse(t *testing.T, name, version, image string) *manifest.Application {
	t.Helper()
	ann := ""
	if version != "" {
		ann = "\n  annotations: {version: " + version + "}"
	}
	a, err := manifest.Parse(name+".yaml", []byte(fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: %s%s
spec:
  components:
    - name: echo
      type: actor
      properties: {image: %q}
`, name, ann, image)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStoreKeepsEveryVersion(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if recs, err := s.List(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("empty store lists %v, %v", recs, err)
	}
	if _, err := s.Get(ctx, "shop"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("Get of nothing: %v", err)
	}
	for _, tc := range []struct{ version, image, want string }{
		{"v1", "file:///a.wasm", "v1"},
		{"v1", "file:///a.wasm", "v1"}, // the same again: nothing new
		{"", "file:///b.wasm", "r2"},
		{"", "file:///c.wasm", "r3"},
	} {
		v, err := s.Put(ctx, parse(t, "shop", tc.version, tc.image))
		if err != nil || v != tc.want {
			t.Fatalf("Put(%s) = %q, %v; want %s", tc.version, v, err, tc.want)
		}
	}
	if _, err := s.Put(ctx, parse(t, "shop", "v1", "file:///other.wasm")); !errors.Is(err, app.ErrVersionExists) {
		t.Fatalf("v1 with other content: %v", err)
	}
	rec, err := s.Deploy(ctx, "shop", "")
	if err != nil || rec.Deployed != "r3" || len(rec.Versions) != 3 {
		t.Fatalf("Deploy latest = %+v, %v", rec, err)
	}
	if _, err := s.Deploy(ctx, "shop", "v9"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("Deploy of an unknown version: %v", err)
	}
	if rec, _ = s.Deploy(ctx, "shop", "v1"); rec.Deployed != "v1" {
		t.Fatalf("rollback to v1 = %+v", rec)
	}
	m, err := rec.Manifest("")
	if err != nil || m.Spec.Components[0].Properties.Image != "file:///a.wasm" {
		t.Fatalf("deployed manifest = %+v, %v", m, err)
	}
	if err := s.Delete(ctx, "shop", "v1"); !errors.Is(err, app.ErrDeployed) {
		t.Fatalf("delete of the deployed version: %v", err)
	}
	if err := s.Delete(ctx, "shop", "r2"); err != nil {
		t.Fatal(err)
	}
	if rec, _ = s.Undeploy(ctx, "shop"); rec.Deployed != "" {
		t.Fatalf("undeploy left %q deployed", rec.Deployed)
	}
	if err := s.Delete(ctx, "shop", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "shop", ""); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// TestStoreRacingPutsAllLand: writers of one application race; the
// compare-and-set loop lands every version.
func TestStoreRacingPutsAllLand(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := parse(t, "race", fmt.Sprintf("v%d", i), "file:///x.wasm")
			if _, errs[i] = s.Put(ctx, a); errs[i] == nil {
				_, errs[i] = s.Deploy(ctx, "race", a.Version())
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	rec, err := s.Get(ctx, "race")
	if err != nil || len(rec.Versions) != n {
		t.Fatalf("after %d racing writers: %+v, %v", n, rec, err)
	}
	if _, ok := rec.Find(rec.Deployed); !ok {
		t.Fatalf("deployed %q is not stored", rec.Deployed)
	}
}

// TestStoreRollsBackToThePreviousVersion: a deploy of another version
// remembers the one before; RollBack returns to it once, says why, and
// refuses when another deploy came first or nothing is left to return to;
// pause is cleared by a deploy.
func TestStoreRollsBackToThePreviousVersion(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, v := range []string{"v1", "v2", "v3"} {
		if _, err := s.Put(ctx, parse(t, "shop", v, "file:///"+v+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Deploy(ctx, "shop", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RollBack(ctx, "shop", "v1", "why"); !errors.Is(err, app.ErrNoPrevious) {
		t.Fatalf("rollback of the first deployed version: %v, want ErrNoPrevious", err)
	}
	rec, err := s.Deploy(ctx, "shop", "v2")
	if err != nil || rec.Previous != "v1" {
		t.Fatalf("deploy v2 = %+v, %v; want previous v1", rec, err)
	}
	if rec, err = s.SetPaused(ctx, "shop", true); err != nil || !rec.Paused {
		t.Fatalf("pause = %+v, %v", rec, err)
	}
	if _, err := s.RollBack(ctx, "shop", "v3", "why"); err == nil || !strings.Contains(err.Error(), "version v2 is deployed now") {
		t.Fatalf("rollback from a version that is not deployed: %v", err)
	}
	rec, err = s.RollBack(ctx, "shop", "v2", "v2 error rate 35% > 5% at step 10%")
	if err != nil || rec.Deployed != "v1" || rec.Previous != "" || rec.RolledBack != "v2 error rate 35% > 5% at step 10%" || rec.Paused {
		t.Fatalf("rollback = %+v, %v; want v1 deployed, the reason kept, no pause, nothing before", rec, err)
	}
	if _, err := s.RollBack(ctx, "shop", "v1", "again"); !errors.Is(err, app.ErrNoPrevious) {
		t.Fatalf("a second rollback: %v, want ErrNoPrevious", err)
	}
	rec, err = s.Deploy(ctx, "shop", "v3")
	if err != nil || rec.Previous != "v1" || rec.RolledBack != "" {
		t.Fatalf("deploy v3 after the rollback = %+v, %v; want previous v1 and no rollback note", rec, err)
	}
	if err := s.Delete(ctx, "shop", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RollBack(ctx, "shop", "v3", "why"); !errors.Is(err, app.ErrNoPrevious) {
		t.Fatalf("rollback to a deleted version: %v, want ErrNoPrevious", err)
	}
	if _, err := s.Undeploy(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPaused(ctx, "shop", true); err == nil {
		t.Fatal("pause of an application that is not deployed: accepted")
	}
}
