// Command natsd runs one NATS server in its own process for the benchmarks,
// secured as a lattice is by default: it trusts the operator of an auth
// store (lattice/auth) and knows its lattice accounts, with JetStream on, so
// that `wisp up --nats-url … --nats-creds …` joins it as it would join an
// operator's own nats-server (see `wisp nats-config`). It prints "ready URL"
// on stdout once it accepts connections and runs until interrupted.
//
//	natsd -auth-dir DIR [-lattice default] [-port 4222] [-store-dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

func main() {
	authDir := flag.String("auth-dir", "", "auth store whose operator the server trusts (created if missing)")
	latticeID := flag.String("lattice", "default", "lattice whose account the server knows")
	port := flag.Int("port", -1, "client port (-1: a free one)")
	storeDir := flag.String("store-dir", "", "JetStream and account directory (default: temporary)")
	flag.Parse()
	if err := run(*authDir, *latticeID, *port, *storeDir); err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
}

func run(authDir, latticeID string, port int, storeDir string) error {
	if authDir == "" {
		return fmt.Errorf("-auth-dir is required")
	}
	st, err := auth.Open(authDir)
	if err != nil {
		return err
	}
	cfg, err := st.ServerConfig(latticeID)
	if err != nil {
		return err
	}
	srv, err := natsserver.Start(context.Background(), natsserver.Config{Port: port, StoreDir: storeDir, Auth: cfg})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	fmt.Println("ready", srv.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
