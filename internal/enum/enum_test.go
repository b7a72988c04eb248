package enum

import "testing"

type color uint8

var colors = New[color]("color", "paint: color", "red", "green", "blue")

func TestNames(t *testing.T) {
	for i, want := range []string{"red", "green", "blue", "color(3)", "color(255)"} {
		c := color(i)
		if i == 4 {
			c = 255
		}
		if got := colors.String(c); got != want {
			t.Errorf("String(%d) = %q, want %q", c, got, want)
		}
		if got := colors.Valid(c); got != (i < 3) {
			t.Errorf("Valid(%d) = %v", c, got)
		}
		if i >= 3 {
			continue
		}
		if got, err := colors.Parse(want); err != nil || got != c {
			t.Errorf("Parse(%q) = %d, %v; want %d", want, got, err, c)
		}
		var u color = 9
		if err := colors.Unmarshal(&u, []byte(want)); err != nil || u != c {
			t.Errorf("Unmarshal(%q) = %d, %v; want %d", want, u, err, c)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		names Names[color]
		in    string
		want  string
	}{
		{colors, "pink", `paint: unknown color "pink" (want red, green or blue)`},
		{colors, "", `paint: unknown color "" (want red, green or blue)`},
		{New[color]("color", "paint: color", "red", "green"), "Red", `paint: unknown color "Red" (want red or green)`},
		{New[color]("color", "paint: color", "red"), "x", `paint: unknown color "x" (want red)`},
	} {
		got, err := tc.names.Parse(tc.in)
		if err == nil || err.Error() != tc.want || got != 0 {
			t.Errorf("Parse(%q) = %d, %v; want 0, %s", tc.in, got, err, tc.want)
		}
		u := color(2)
		if err := tc.names.Unmarshal(&u, []byte(tc.in)); err == nil || u != 2 {
			t.Errorf("Unmarshal(%q) = %v and set %d; want an error and no change", tc.in, err, u)
		}
	}
}
