// Renders an Ollama Modelfile TEMPLATE with Go's text/template, the engine Ollama uses, over data shaped
// like Ollama's documented chat request: messages (role, content, tool_calls) and tools (type, function).
// As in Ollama, a tool's function and a call's arguments print as JSON.
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
	Name        string `json:"name"`
	Description string `json:"description"`
	Parameters  any    `json:"parameters"`
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
