/** camelCase or PascalCase name in snake_case. */
export function snakeCase(name: string): string {
  return name.replace(/(?!^)([A-Z])/g, "_$1").toLowerCase();
}
