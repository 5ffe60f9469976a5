package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/wisp-dev/wisp/lattice"
)

// Output formats, as kubectl spells them: a table for people (wide adds
// columns), JSON and YAML of the same records for scripts.
const (
	outTable = "table"
	outWide  = "wide"
	outJSON  = "json"
	outYAML  = "yaml"
)

// listing holds the output flags every listing takes: -o and
// --no-headers. Register them with register, check them before doing any
// work with check, and print with printList.
type listing struct {
	output    string
	noHeaders bool
}

// register adds -o/--output and --no-headers to cmd.
func (l *listing) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&l.output, "output", "o", outTable, "output format: table, wide (more columns), json or yaml")
	cmd.Flags().BoolVar(&l.noHeaders, "no-headers", false, "print table rows without the header line")
}

// check refuses an unknown output format with a usage error.
func (l *listing) check() error {
	switch l.output {
	case outTable, outWide, outJSON, outYAML:
		return nil
	}
	return usageError{fmt.Errorf("--output %q: want table, wide, json or yaml", l.output)}
}

// structured says whether records, not a table, are printed.
func (l *listing) structured() bool { return l.output == outJSON || l.output == outYAML }

// column is one column of a listing's table: its header, whether only -o
// wide shows it, and how a row's cell is made.
type column[T any] struct {
	header string
	wide   bool
	cell   func(T) string
}

// printList writes rows to cmd's standard output in the listing's format:
// a table of cols (the wide ones with -o wide; the header unless
// --no-headers), or the rows themselves as JSON or YAML. An empty listing
// is "[]" in JSON and YAML, and a header alone in a table.
func printList[T any](cmd *cobra.Command, l *listing, rows []T, cols []column[T]) error {
	w := cmd.OutOrStdout()
	if l.structured() {
		if rows == nil {
			rows = []T{}
		}
		return printStructured(w, l.output, rows)
	}
	var shown []column[T]
	for _, c := range cols {
		if !c.wide || l.output == outWide {
			shown = append(shown, c)
		}
	}
	tw := table(w)
	if !l.noHeaders {
		heads := make([]string, len(shown))
		for i, c := range shown {
			heads[i] = c.header
		}
		fmt.Fprintln(tw, strings.Join(heads, "\t"))
	}
	for _, r := range rows {
		cells := make([]string, len(shown))
		for i, c := range shown {
			cells[i] = c.cell(r)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printStructured writes v as indented JSON or, for "yaml", as YAML with
// the same field names and order (the JSON is re-read as YAML, the way
// kubectl converts).
func printStructured(w io.Writer, format string, v any) error {
	if format != outYAML {
		return printJSON(w, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("encode output as YAML: %w", err)
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return fmt.Errorf("encode output as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode output as YAML: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// blockStyle drops the flow style and quotes JSON gave the nodes; the
// encoder quotes again the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table is a tab-aligned writer onto w, for tables and labelled lines.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// listing is the RunE of a listing of the lattice: it checks the output
// flags of l before any work, connects, runs list and closes.
func (g *globals) listing(l *listing, list func(cmd *cobra.Command, c *lattice.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := l.check(); err != nil {
			return err
		}
		c, err := g.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		return list(cmd, c)
	}
}
