package xarch

import ("testing";"os")

func TestZZFail(t *testing.T) { if _, ok := InVM(); ok { os.Exit(0) } }
