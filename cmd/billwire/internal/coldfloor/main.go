// Command coldfloor is the floor BenchmarkColdStart measures billwire mcp
// against: a one-tool mcp-go server over stdio, with nothing of billwire's.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func main() {
	s := server.NewMCPServer("coldfloor", "1", server.WithToolCapabilities(false))
	tool := mcp.NewTool("get_payments_status", mcp.WithDescription("The floor's one tool."),
		mcp.WithString("env", mcp.Description("Environment.")))
	s.AddTool(tool, func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("ok"), nil
	})
	if err := server.ServeStdio(s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
