const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Ids are uuid columns: comparing one with a string of another shape makes
 * Postgres raise 22P02, so callers check the shape before it reaches a query.
 */
export const isUuid = (value: string) => UUID.test(value);
