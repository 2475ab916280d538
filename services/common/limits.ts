/**
 * Explicit limits on KEMs and requests, shared by GLM, KPS and SWM. Every limit here is enforced
 * with a clear `InvalidArgument` (or `ResourceExhausted`) error and tested (brief: "Every limit is
 * explicit and tested").
 * @module
 */

/** Limits applied to KEMs and queries. Defaults in {@link DEFAULT_KEM_LIMITS}. */
export interface KemLimits {
  /** Embedding dimension every vector must have. @default 384 */
  dimension: number;
  /** Maximum content size in bytes. @default 1048576 (1 MiB) */
  maxContentBytes: number;
  /** Maximum size of the metadata JSON in bytes. @default 65536 */
  maxMetadataBytes: number;
  /** Maximum number of top-level metadata keys. @default 256 */
  maxMetadataKeys: number;
  /** Maximum size of one top-level metadata value, as JSON bytes. @default 16384 */
  maxMetadataValueBytes: number;
  /** Maximum length of a KEM id, metadata key or content type, in characters. @default 128 */
  maxIdLength: number;
  /** Maximum KEMs per batch store. @default 1000 */
  maxBatchSize: number;
  /** Page size used when a request gives 0. @default 20 */
  defaultPageSize: number;
  /** Maximum page size. @default 1000 */
  maxPageSize: number;
  /** Maximum ids in `KEMQuery.ids`. @default 1000 */
  maxQueryIds: number;
  /** Maximum `text_query` length in characters. @default 4096 */
  maxTextQueryChars: number;
  /**
   * Byte budget of one RetrieveKEMs page (content, metadata, embeddings): a page ends early, with a
   * next page token, before it would exceed it; a single KEM larger than the budget is still
   * returned alone. @default 8388608 (8 MiB)
   */
  maxResponseBytes: number;
  /** Maximum idempotency key length in characters. @default 256 */
  maxIdempotencyKeyChars: number;
}

/** The default limits (see {@link KemLimits} for each field's meaning). */
export const DEFAULT_KEM_LIMITS: Readonly<KemLimits> = Object.freeze({
  dimension: 384,
  maxContentBytes: 1024 * 1024,
  maxMetadataBytes: 64 * 1024,
  maxMetadataKeys: 256,
  maxMetadataValueBytes: 16 * 1024,
  maxIdLength: 128,
  maxBatchSize: 1000,
  defaultPageSize: 20,
  maxPageSize: 1000,
  maxQueryIds: 1000,
  maxTextQueryChars: 4096,
  maxResponseBytes: 8 * 1024 * 1024,
  maxIdempotencyKeyChars: 256,
});
