// A data table whose columns sort by a click or Enter on their header (the sort is the page's
// query, so the server sorts and pages), and a pager.
import type { ComponentChildren } from 'preact';

export interface Column<T> {
  key: string;
  label: string;
  cell(row: T): ComponentChildren;
  /** The sort this column asks the API for, when it sorts. */
  sort?: string;
  /** Right-aligned numbers, dates… */
  numeric?: boolean;
}

export interface Sorting {
  /** The sort value in force (`expires`, `-expires`…). A leading '-' is descending. */
  current: string | undefined;
  onSort(value: string): void;
}

export function DataTable<T>({ caption, columns, rows, rowKey, sorting }: { caption: string; columns: Column<T>[]; rows: T[]; rowKey(row: T): string; sorting?: Sorting }) {
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => {
              const active = sorting && c.sort && sorting.current?.replace(/^-/, '') === c.sort ? (sorting.current?.startsWith('-') ? 'descending' : 'ascending') : undefined;
              return (
                <th key={c.key} scope="col" class={c.numeric ? 'numeric' : undefined} aria-sort={c.sort && sorting ? (active ?? 'none') : undefined}>
                  {c.sort && sorting ? (
                    <button type="button" class="sort" onClick={() => sorting.onSort(active === 'ascending' ? `-${c.sort}` : (c.sort as string))}>
                      {c.label}
                      <span aria-hidden="true" class="sort-mark">
                        {active === 'ascending' ? '▲' : active === 'descending' ? '▼' : '↕'}
                      </span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((c) => (
                <td key={c.key} class={c.numeric ? 'numeric' : undefined}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Pager({ page, pageSize, total, onPage }: { page: number; pageSize: number; total: number; onPage(page: number): void }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span aria-live="polite">
        Page {page} of {pages} ({total} in all)
      </span>
      <button type="button" class="secondary" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
