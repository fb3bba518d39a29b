import { ValueTransformer } from 'typeorm';

/** Lists are stored as JSON text: SQLite has no array type and these lists are small. */
export const jsonArray: ValueTransformer = {
  to: (value: unknown[] | undefined) => (value === undefined ? undefined : JSON.stringify(value)),
  from: (value: string | null) => (value ? (JSON.parse(value) as unknown[]) : []),
};

/** SQLite booleans are 0/1 integers; NULL stays null (meaning "not set"). */
export const nullableBoolean: ValueTransformer = {
  to: (value: boolean | null | undefined) => (value === undefined ? undefined : value === null ? null : value ? 1 : 0),
  from: (value: number | null) => (value === null || value === undefined ? null : value === 1),
};
