type Settings = { [key: string]: unknown };

/** base updated with override. */
export function merge(base: Settings, override: Settings): Settings {
  return { ...base, ...override };
}
