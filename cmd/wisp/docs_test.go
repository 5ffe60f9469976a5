//go:build !wispcli

package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// documentedCommands returns every wisp command line in the shell blocks
// of the README, docs/ and examples/: "wisp …", "./wisp …" and "go run
// ./cmd/wisp …", joined across line continuations, cut at a comment, a
// pipe, a redirection or '&', with their file and line.
func documentedCommands(t *testing.T) []struct {
	where string
	args  []string
} {
	t.Helper()
	root := filepath.Join("..", "..")
	files := []string{filepath.Join(root, "README.md")}
	for _, pattern := range []string{"docs/*.md", "examples/*/README.md"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		files = append(files, m...)
	}
	var out []struct {
		where string
		args  []string
	}
	for _, f := range files {
		if strings.Contains(f, filepath.Join("docs", "cli")) {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		inFence, inSh, lineNo, start, pending := false, false, 0, 0, ""
		for sc.Scan() {
			lineNo++
			line := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inFence = !inFence
				inSh = inFence && (line == "```sh" || line == "```bash" || line == "```")
				pending = ""
				continue
			}
			if !inSh {
				continue
			}
			if pending == "" {
				start = lineNo
			}
			if strings.HasSuffix(strings.TrimSpace(line), `\`) {
				pending += strings.TrimSuffix(strings.TrimSpace(line), `\`) + " "
				continue
			}
			line, pending = pending+line, ""
			words := shellWords(line)
			for i, w := range words {
				if w == "wisp" || w == "./wisp" || (w == "./cmd/wisp" && i > 0 && words[i-1] == "run") {
					out = append(out, struct {
						where string
						args  []string
					}{filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f) + ":" + itoa(start), words[i+1:]})
					break
				}
				if !strings.Contains(w, "=") && w != "go" && w != "run" && w != "sudo" {
					break // a line of another program
				}
			}
		}
		fh.Close()
	}
	return out
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		if n /= 10; n == 0 {
			return s
		}
	}
}

// shellWords splits a shell line into words as sh would for these
// examples: quotes group, and a comment, pipe, redirection, ';', '&&' or
// '&' ends the command.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			flush()
			return words
		case strings.ContainsRune("|&;>", r):
			flush()
			return words
		case unicode.IsSpace(r):
			flush()
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return words
}

// TestEveryDocumentedCommandParses takes every wisp command the README,
// docs/ and examples/ show and checks it against the CLI as built: the
// verb exists and its flags and arguments parse. A renamed verb or flag
// cannot leave a documented command behind.
func TestEveryDocumentedCommandParses(t *testing.T) {
	isolate(t)
	cmds := documentedCommands(t)
	if len(cmds) < 50 {
		t.Fatalf("found only %d documented commands: the extraction is broken", len(cmds))
	}
	for _, c := range cmds {
		root := newRootCmd()
		cmd, rest, err := root.Find(c.args)
		if err != nil {
			t.Errorf("%s: wisp %s: %v", c.where, strings.Join(c.args, " "), err)
			continue
		}
		if cmd == root && len(c.args) > 0 && !strings.HasPrefix(c.args[0], "-") {
			t.Errorf("%s: wisp %s: no such verb", c.where, strings.Join(c.args, " "))
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: wisp %s: %v", c.where, strings.Join(c.args, " "), err)
			continue
		}
		if cmd.Args != nil && !cmd.Flags().Changed("help") {
			if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
				t.Errorf("%s: wisp %s: %v", c.where, strings.Join(c.args, " "), err)
			}
		}
	}
}
