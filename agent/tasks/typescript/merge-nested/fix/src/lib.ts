type Settings = { [key: string]: unknown };

const isObject = (v: unknown): v is Settings => typeof v === "object" && v !== null && !Array.isArray(v);

/** base updated with override. */
export function merge(base: Settings, override: Settings): Settings {
  const out: Settings = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const old = out[key];
    out[key] = isObject(value) && isObject(old) ? merge(old, value) : value;
  }
  return out;
}
