package trace

import (
	"reflect"
	"testing"
)

// An entry that is also a RET is one site recording both events; the RET
// is not probed a second time. Other RETs stay return sites.
func TestPlanSites(t *testing.T) {
	for _, c := range []struct {
		f    Func
		want []site
	}{
		{Func{Entry: 0x10, Rets: []uint64{0x10}}, []site{{0x10, kindEntry, true}}},
		{Func{Entry: 0x10, Rets: []uint64{0x18, 0x10, 0x20}}, []site{{0x10, kindEntry, true}, {0x18, kindReturn, false}, {0x20, kindReturn, false}}},
		{Func{Entry: 0x14, StackCheck: true, Rets: []uint64{0x14}}, []site{{0x14, kindEntry, true}}},
		{Func{Entry: 0x10, Rets: []uint64{0x18}}, []site{{0x10, kindEntry, false}, {0x18, kindReturn, false}}},
		{Func{Entry: 0x10}, []site{{0x10, kindEntry, false}}},
	} {
		if got := planSites(&c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("planSites(entry %#x, rets %#x) = %+v, want %+v", c.f.Entry, c.f.Rets, got, c.want)
		}
	}
}
