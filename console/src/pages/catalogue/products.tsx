// Products: the list every reader sees, and (for admins) the way to a new one.
import { api } from '../../api';
import { DataTable, type Column } from '../../components/table';
import { Empty, ErrorMessage, Loading } from '../../components/states';
import { useLoad } from '../../hooks';
import { href } from '../../router';
import { useSession } from '../../session';
import type { Ca, Product } from './types';

export function Products() {
  const { whoami } = useSession();
  const data = useLoad(async () => {
    const [products, cas] = await Promise.all([api.get<{ products: Product[] }>('/products'), api.get<{ cas: Ca[] }>('/cas')]);
    return { products: products.products, caNames: new Map(cas.cas.map((c) => [c.id, c.name])) };
  }, []);
  const columns: Column<Product>[] = [
    { key: 'name', label: 'Name', cell: (p) => <a href={href(`/products/${p.id}`)}>{p.name}</a> },
    { key: 'ca', label: 'CA', cell: (p) => <a href={href(`/cas/${p.ca_id}`)}>{data.data?.caNames.get(p.ca_id) ?? p.ca_id}</a> },
    { key: 'keys', label: 'Key algorithms', cell: (p) => p.key_algorithms.join(', ') },
    { key: 'validity', label: 'Validity (days)', numeric: true, cell: (p) => `${p.default_validity_days} (max ${p.max_validity_days})` },
    { key: 'names', label: 'DNS suffixes', cell: (p) => (p.allowed_dns_suffixes.length ? p.allowed_dns_suffixes.join(', ') : 'any') },
    { key: 'approval', label: 'Approval', cell: (p) => (p.requires_approval ? <span class="badge warn">required</span> : <span class="badge">none</span>) },
    { key: 'dcv', label: 'Domain validation', cell: (p) => (p.dcv.mode === 'required' ? <span class="badge warn">required</span> : <span class="badge">none</span>) },
  ];
  return (
    <>
      {whoami.admin && (
        <div class="actions">
          <a class="button" href={href('/products/new')}>
            New product
          </a>
        </div>
      )}
      {data.loading && !data.data ? (
        <Loading what="Loading the products" />
      ) : data.error ? (
        <ErrorMessage message={`Could not load the products: ${data.error}`} onRetry={data.reload} />
      ) : data.data && data.data.products.length === 0 ? (
        <Empty>No product you may read. {whoami.admin ? 'Make one with “New product”.' : 'An admin makes products (here, or with certgate product create).'}</Empty>
      ) : data.data ? (
        <DataTable caption="Products" columns={columns} rows={data.data.products} rowKey={(p) => p.id} />
      ) : null}
    </>
  );
}
