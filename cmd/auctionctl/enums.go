package main

import (
	"flag"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// enumFlag is a flag holding a protobuf enum value. People type DECORATION,
// decoration or CATEGORY_DECORATION; all mean the same value, because the
// type prefix is noise on a command line but is what the JSON API shows.
type enumFlag struct {
	desc protoreflect.EnumDescriptor
	n    protoreflect.EnumNumber
}

// enumVar defines an enum flag; its help lists the accepted values, taken
// from the descriptor so that a new enum value shows up without edits here.
func enumVar(fs *flag.FlagSet, name string, desc protoreflect.EnumDescriptor, help string) *enumFlag {
	f := &enumFlag{desc: desc}
	fs.Var(f, name, fmt.Sprintf("%s: %s (any case, %s prefix optional)", help, strings.Join(enumNames(desc), ", "), enumPrefix(desc)))
	return f
}

// enumPrefix is the type prefix of the enum's values, e.g. "CATEGORY_",
// derived from the zero value's name (CATEGORY_UNSPECIFIED).
func enumPrefix(desc protoreflect.EnumDescriptor) string {
	return strings.TrimSuffix(string(desc.Values().ByNumber(0).Name()), "UNSPECIFIED")
}

// enumNames lists the settable values without their prefix.
func enumNames(desc protoreflect.EnumDescriptor) []string {
	prefix := enumPrefix(desc)
	var names []string
	for i := range desc.Values().Len() {
		if v := desc.Values().Get(i); v.Number() != 0 {
			names = append(names, strings.TrimPrefix(string(v.Name()), prefix))
		}
	}
	return names
}

// String shows the full enum name, as the API prints it.
func (f *enumFlag) String() string {
	if f == nil || f.desc == nil || f.n == 0 {
		return ""
	}
	return string(f.desc.Values().ByNumber(f.n).Name())
}

// Set accepts a value name in any case, with or without the type prefix;
// UNSPECIFIED is refused, since the server would refuse it anyway.
func (f *enumFlag) Set(s string) error {
	prefix := enumPrefix(f.desc)
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, prefix) {
		name = prefix + name
	}
	v := f.desc.Values().ByName(protoreflect.Name(name))
	if v == nil || v.Number() == 0 {
		return fmt.Errorf("want one of %s", strings.Join(enumNames(f.desc), ", "))
	}
	f.n = v.Number()
	return nil
}
