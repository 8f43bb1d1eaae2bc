package contacts

import "testing"

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		// One Vietnamese mobile number, every way it is written.
		{"0912345678", "+84912345678", true},
		{"84912345678", "+84912345678", true},
		{"+84912345678", "+84912345678", true},
		{"+84 91 234 5678", "+84912345678", true},
		{"0912 345 678", "+84912345678", true},
		{"091-234-5678", "+84912345678", true},
		{"(+84) 912.345.678", "+84912345678", true},
		{"84+912345678", "", false}, // a plus inside the number
		{"+84 (0) 912 345 678", "+84912345678", true},
		{"0084912345678", "+84912345678", true},
		{"912345678", "+84912345678", true},
		{"+840912345678", "+84912345678", true},
		// A Hanoi landline: area code 24, eight digits.
		{"024 3812 3456", "+842438123456", true},
		{"+84 24 3812 3456", "+842438123456", true},
		// Other countries keep their country code, in E.164.
		{"+1 202 555 0123", "+12025550123", true},
		{"+44 20 7946 0958", "+442079460958", true},
		{"0012025550123", "+12025550123", true},
		{"+65 6123 4567", "+6561234567", true},
		// Not customer numbers.
		{"", "", false},
		{"101", "", false},   // a softphone extension
		{"1900", "", false},  // a short code
		{"hello", "", false}, // letters
		{"09123abc", "", false},
		{"+1234567890123456", "", false}, // 16 digits: longer than E.164 allows
		{"+84 91 234", "", false},        // too short for Vietnam
	} {
		got, ok := NormalizePhone(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
