/** Reading fields of the API server's JSON answers by their types, never by a cast alone. */

export type JsonObject = Record<string, unknown>;

/** An object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value[key]` when `value` is an object; else undefined. */
export function fieldOf(value: unknown, key: string): unknown {
  return isJsonObject(value) ? value[key] : undefined;
}

/** `value[key]` when it is an object; else undefined. */
export function objectAt(value: unknown, key: string): JsonObject | undefined {
  const inner = fieldOf(value, key);
  return isJsonObject(inner) ? inner : undefined;
}

/** `value` when it is a list of strings; else undefined. */
export function stringsOf(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

/** `value` when it is a string other than ''; else undefined. */
export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
