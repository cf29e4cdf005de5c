package xmlconf

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseCPUSet(t *testing.T) {
	cases := []struct {
		in    string
		max   int
		want  []int
		canon string
	}{
		{"0", 0, []int{0}, "0"},
		{"0-3,^2,8", 0, []int{0, 1, 3, 8}, "0-1,3,8"},
		{"^2,0-3", 0, []int{0, 1, 3}, "0-1,3"},
		{"3,1,2,2", 0, []int{1, 2, 3}, "1-3"},
		{" 1 , 4-5 ", 0, []int{1, 4, 5}, "1,4-5"},
		{"7-7", 8, []int{7}, "7"},
		{"0-2,4-6,^5", 0, []int{0, 1, 2, 4, 6}, "0-2,4,6"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCPUSet(tc.in, tc.max)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseCPUSet(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if c := FormatCPUSet(got); c != tc.canon {
				t.Fatalf("FormatCPUSet(%v) = %q, want %q", got, c, tc.canon)
			}
			again, err := ParseCPUSet(tc.canon, tc.max)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("canonical form %q reparses to %v, %v", tc.canon, again, err)
			}
		})
	}
	bad := []struct {
		in  string
		max int
	}{{"", 0}, {" ", 0}, {"a", 0}, {"1,,2", 0}, {"1-", 0}, {"-1", 0}, {"3-1", 0}, {"^", 0}, {"^x", 0},
		{"8", 8}, {"0-8", 8}, {"0,^0", 0}, {"+1", 0}, {"99999999999999999999", 0}, {"1-2-3", 0}}
	for _, tc := range bad {
		t.Run("bad/"+tc.in, func(t *testing.T) {
			if got, err := ParseCPUSet(tc.in, tc.max); !errors.Is(err, ErrInvalidArg) {
				t.Fatalf("ParseCPUSet(%q, %d) = %v, %v; want ErrInvalidArg", tc.in, tc.max, got, err)
			}
		})
	}
	if s := FormatCPUSet(nil); s != "" {
		t.Fatalf("FormatCPUSet(nil) = %q", s)
	}
}

func TestCPUSetWideRanges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"0-63", "0-63"}, {"1-64", "1-64"}, {"63-64", "63-64"}, {"0-8191", "0-8191"}, {"5-200,^100", "5-99,101-200"},
		{"64-127,0-63", "0-127"}, {"3-3", "3"},
	} {
		cpus, err := ParseCPUSet(tc.in, 0)
		if err != nil {
			t.Fatalf("ParseCPUSet(%q): %v", tc.in, err)
		}
		if got := FormatCPUSet(cpus); got != tc.want {
			t.Errorf("ParseCPUSet(%q) formats as %q, want %q", tc.in, got, tc.want)
		}
	}
}
