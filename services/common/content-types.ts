/**
 * Which content types DCSM treats as text: KPS accepts only these for chunking, and GLM indexes
 * the content of these KEMs for lexical search (docs/search.md).
 * @module
 */

/**
 * `text/*`, JSON, XML, JavaScript/TypeScript, `application/x-*` (source code, shell, YAML …) and
 * structured-syntax suffixes (`+json`, `+xml`), with optional parameters (`; charset=utf-8`).
 */
const TEXT_TYPES =
  /^(text\/[\w.+-]+|application\/(json|xml|javascript|typescript|x-[\w.+-]+|[\w.+-]+\+(json|xml)))(;.*)?$/i;

/**
 * True when `contentType` names text content (UTF-8 by DCSM's convention).
 * @param contentType - a MIME type such as "text/plain" or "application/json; charset=utf-8".
 */
export function isTextContentType(contentType: string): boolean {
  return TEXT_TYPES.test(contentType);
}
