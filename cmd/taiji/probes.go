package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/goabi"
	"github.com/taijidbg/taiji/trace"
)

func probesCmd() *cobra.Command {
	var asJSON bool
	var sigs []string
	var noCache bool
	c := &cobra.Command{
		Use:   "probes BINARY PATTERN...",
		Short: "Print the probe sites taiji trace would use: entry and every RET of each function",
		Long: `Print, for each function matching PATTERN (globs: * and ?), where taiji trace
puts its uprobes: the entry (after a Go function's stack-bound check, so a call
that grows its stack is counted once) and every RET instruction (never a
uretprobe), as virtual addresses and file offsets, and where each argument and
result lives under the function's ABI.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := trace.Open(args[0], moduleOptions("", nil, noCache))
			if err != nil {
				return err
			}
			defer b.Close()
			sm, err := parseSigs(sigs, int64(b.Arch.PtrSize))
			if err != nil {
				return err
			}
			funcs, err := b.Funcs(args[1:], sm)
			if err != nil {
				return err
			}
			sayRefused(b)
			return printProbes(b, funcs, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&noCache, "no-cache", false, "do not keep inflated debug sections in ~/.cache/taiji between runs")
	c.Flags().StringArrayVar(&sigs, "sig", nil, "argument types for a binary without DWARF: 'main.F(a int, s string) (int, error)'")
	return c
}

func parseSigs(sigs []string, ptr int64) (map[string]*goabi.Sig, error) {
	m := map[string]*goabi.Sig{}
	for _, s := range sigs {
		sig, err := goabi.ParseSig(s, ptr)
		if err != nil {
			return nil, err
		}
		m[sig.Func] = sig
	}
	return m, nil
}

type probeSite struct {
	Addr       string `json:"addr"`
	FileOffset string `json:"file_offset"`
}

type probeFunc struct {
	Function   string      `json:"function"`
	Addr       string      `json:"addr"`
	Size       uint64      `json:"size"`
	Go         bool        `json:"go"`
	StackCheck bool        `json:"after_stack_check"`
	Entry      probeSite   `json:"entry"`
	Returns    []probeSite `json:"returns"`
	TailJumps  int         `json:"tail_jumps,omitempty"`
	Types      string      `json:"types"`
	Note       string      `json:"note,omitempty"`
	Args       []string    `json:"args"`
	Results    []string    `json:"results"`
}

func printProbes(b *trace.Binary, funcs []*trace.Func, asJSON bool) error {
	site := func(addr uint64) probeSite {
		off, _ := b.FileOffset(addr)
		return probeSite{fmt.Sprintf("%#x", addr), fmt.Sprintf("%#x", off)}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, f := range funcs {
		pf := probeFunc{Function: f.Name, Addr: fmt.Sprintf("%#x", f.Addr), Size: f.Size, Go: f.Go,
			StackCheck: f.StackCheck, Entry: site(f.Entry), TailJumps: f.TailJumps, Types: f.TypesFrom, Note: f.Note,
			Returns: []probeSite{}, Args: []string{}, Results: []string{}}
		if pf.Types == "" {
			pf.Types = "none"
		}
		for _, r := range f.Rets {
			pf.Returns = append(pf.Returns, site(r))
		}
		for i, p := range f.Args {
			pf.Args = append(pf.Args, fmt.Sprintf("%s %s @%s", p.Name, p.Type, goabi.Describe(b.Arch, f.ArgLocs[i])))
		}
		for i, p := range f.Results {
			pf.Results = append(pf.Results, fmt.Sprintf("%s %s @%s", p.Name, p.Type, goabi.Describe(b.Arch, f.ResultLocs[i])))
		}
		if asJSON {
			if err := enc.Encode(pf); err != nil {
				return err
			}
			continue
		}
		how := "first instruction"
		switch {
		case f.StackCheck:
			how = "after stack check"
		case f.Entry != f.Addr:
			how = "on the stack check's branch"
		}
		fmt.Printf("%s  %s size %d (%s)\n", f.Name, pf.Addr, f.Size, map[bool]string{true: "Go", false: "C"}[f.Go])
		fmt.Printf("  entry  %s  file offset %s  (%s)\n", pf.Entry.Addr, pf.Entry.FileOffset, how)
		for _, r := range pf.Returns {
			fmt.Printf("  ret    %s  file offset %s\n", r.Addr, r.FileOffset)
		}
		if f.TailJumps > 0 {
			fmt.Printf("  note   %d jumps leave the function: returns through them are not seen\n", f.TailJumps)
		}
		fmt.Printf("  types  %s\n", pf.Types)
		if f.Note != "" {
			fmt.Printf("  note   %s\n", f.Note)
		}
		for _, a := range pf.Args {
			fmt.Printf("  arg    %s\n", a)
		}
		for _, r := range pf.Results {
			fmt.Printf("  result %s\n", r)
		}
	}
	return nil
}

// sayRefused prints, one line each, the functions a glob matched that
// taiji leaves out because their code does not disassemble.
func sayRefused(b *trace.Binary) {
	for _, r := range b.Refused {
		fmt.Fprintf(os.Stderr, "taiji: left out (taiji never probes code it cannot decode, nor guesses its RETs): %s\n", r)
	}
}
