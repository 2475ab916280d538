/**
 * Registration of one DCSM tool on an MCP server: its input and output schemas, annotations, and
 * the handler that returns `structuredContent` (MCP spec 2025-06-18, "Tools" → "Structured
 * Content") or, on failure, a tool error naming the Connect code (see tool-errors.ts).
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import { toolError } from "./tool-errors.ts";
import type { CallerOf, ToolCaller } from "./tool-schemas.ts";

/** Zod shape of a tool's input or output object. */
export type Shape = Record<string, z.ZodType>;

/** One tool: its title and description for the model, schemas, annotations and what it runs. */
export interface ToolSpec<I extends Shape, O extends Shape> {
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  run(args: z.infer<z.ZodObject<I>>, caller: ToolCaller): Promise<z.infer<z.ZodObject<O>>>;
}

/**
 * Registers `spec` under `name` on `server`; each call runs with the {@link ToolCaller} that
 * `callerOf` derives from the request.
 */
export function register<I extends Shape, O extends Shape>(
  server: McpServer,
  callerOf: CallerOf,
  name: string,
  spec: ToolSpec<I, O>,
): void {
  const handler = async (args: unknown, extra: Parameters<CallerOf>[0]): Promise<CallToolResult> => {
    try {
      const out = (await spec.run(args as z.infer<z.ZodObject<I>>, callerOf(extra))) as Record<string, unknown>;
      return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
    } catch (err) {
      return toolError(err);
    }
  };
  // The SDK's generics over zod 3/4 shapes do not follow our generic Shape; the schemas are zod 4.
  (server.registerTool as (n: string, c: object, cb: typeof handler) => void)(
    name,
    {
      title: spec.title,
      description: spec.description,
      inputSchema: spec.input,
      outputSchema: spec.output,
      annotations: { title: spec.title, openWorldHint: false, ...spec.annotations },
    },
    handler,
  );
}
