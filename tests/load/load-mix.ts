/**
 * What the load-test agents do: the wire protocols they use, the operation kinds the report names,
 * and the relative weights an agent picks operations by.
 * @module
 */

/** Wire protocols the agents use. */
export type LoadProtocol = "grpc" | "connect" | "grpc-web";

/** Operation kinds, as they appear in the report. */
export type LoadOp =
  | "publish"
  | "publish+persist"
  | "query.ids"
  | "query.agent"
  | "query.group"
  | "search.vector"
  | "search.text";

/** Relative weights of the operations an agent picks from (publish covers both publish kinds). */
export interface LoadMix {
  /** PublishKEMToSWM. @default 40 */
  publish: number;
  /** QuerySWM by metadata or ids. @default 33 */
  query: number;
  /** GLM RetrieveKEMs with embedding_query. @default 22 */
  vector: number;
  /** GLM RetrieveKEMs with text_query (embeds on the server). @default 5 */
  text: number;
  /** Share of publishes persisted to GLM, 0..1. @default 0.25 */
  persistShare: number;
}

/** Default {@link LoadMix}. */
export const DEFAULT_MIX: Readonly<LoadMix> = Object.freeze({
  publish: 40,
  query: 33,
  vector: 22,
  text: 5,
  persistShare: 0.25,
});
