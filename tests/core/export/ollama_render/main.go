// Renders an Ollama Modelfile TEMPLATE with Go's text/template, the engine Ollama uses, over data shaped
// like Ollama's documented chat request: messages (role, content, tool_calls) and tools (type, function).
// As in Ollama, a tool's function and a call's arguments print as JSON, and a tool's parameters offer
// .Type, .Required and .Properties (each property with .Type, .Items, .Description and .Enum) to templates.
// Usage: go run main.go < request.json   where request.json is {"template": "...", "system": "...",
// "messages": [...], "tools": [...]}
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/template"
)

type Arguments map[string]any

func (a Arguments) String() string { b, _ := json.Marshal(a); return string(b) }

type CallFunction struct {
	Name      string    `json:"name"`
	Arguments Arguments `json:"arguments"`
}

type ToolCall struct {
	Function CallFunction `json:"function"`
}

type Message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls"`
}

type ToolFunction struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Parameters  Parameters `json:"parameters"`
}

// Parameters is a tool's JSON Schema. Printed, it is that JSON; its methods give the fields Ollama's
// api.ToolFunctionParameters gives templates (a template ranges over .Properties in key order).
type Parameters map[string]any

func (p Parameters) Type() string { kind, _ := p["type"].(string); return kind }

func (p Parameters) Required() []string { return stringList(p["required"]) }

func (p Parameters) Properties() map[string]Property {
	raw, _ := p["properties"].(map[string]any)
	properties := map[string]Property{}
	for name, value := range raw {
		schema, _ := value.(map[string]any)
		enum, _ := schema["enum"].([]any)
		description, _ := schema["description"].(string)
		kind := PropertyType(stringList(schema["type"]))
		if single, ok := schema["type"].(string); ok {
			kind = PropertyType{single}
		}
		properties[name] = Property{Type: kind, Items: schema["items"], Description: description, Enum: enum}
	}
	return properties
}

// Property is what Ollama's api.ToolProperty keeps of a property's schema for templates.
type Property struct {
	Type        PropertyType
	Items       any
	Description string
	Enum        []any
}

// PropertyType is a JSON Schema type, one name or several (Ollama's api.PropertyType).
type PropertyType []string

func (t PropertyType) String() string {
	if len(t) == 0 {
		return ""
	}
	if len(t) == 1 {
		return t[0]
	}
	return fmt.Sprintf("%v", []string(t))
}

func stringList(value any) []string {
	items, _ := value.([]any)
	out := []string{}
	for _, item := range items {
		if text, ok := item.(string); ok {
			out = append(out, text)
		}
	}
	return out
}

func (f ToolFunction) String() string { b, _ := json.Marshal(f); return string(b) }

type Tool struct {
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

type Request struct {
	Template string    `json:"template"`
	System   string    `json:"system"`
	Messages []Message `json:"messages"`
	Tools    []Tool    `json:"tools"`
}

func main() {
	var request Request
	if err := json.NewDecoder(os.Stdin).Decode(&request); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	tmpl, err := template.New("modelfile").Parse(request.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "template does not parse:", err)
		os.Exit(3)
	}
	data := map[string]any{"System": request.System, "Messages": request.Messages, "Tools": request.Tools}
	if err := tmpl.Execute(os.Stdout, data); err != nil {
		fmt.Fprintln(os.Stderr, "template does not render:", err)
		os.Exit(4)
	}
}
