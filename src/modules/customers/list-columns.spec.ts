import { CustomerOrderField } from './dto/customer.inputs';
import { listColumns } from './customers.service';

describe('listColumns: what a customers page loads for the fields selected on its nodes', () => {
  const sorted = (fields: string[], order = CustomerOrderField.CREATED_AT) => listColumns(new Set(fields), order).sort();

  it('loads no ciphertext, data key, blind index or risk factors when no PII field is selected', () => {
    expect(sorted(['id', 'accountManager'])).toEqual(['accountManagerId', 'createdAt', 'id', 'onboardedByPartnerId', 'status']);
  });

  it('loads the data key and the ciphertexts of the selected PII fields only', () => {
    const columns = sorted(['id', 'email', 'phone']);
    expect(columns).toEqual(expect.arrayContaining(['dataKey', 'email', 'phone']));
    for (const absent of ['fullName', 'nationalId', 'dateOfBirth', 'address', 'emailBidx', 'phoneBidx', 'nationalIdBidx', 'riskFactors']) {
      expect(columns).not.toContain(absent);
    }
  });

  it('always loads the sort key the cursor is made of', () => {
    expect(sorted(['id'], CustomerOrderField.RISK_SCORE)).toContain('riskScore');
    expect(sorted(['id'], CustomerOrderField.UPDATED_AT)).toContain('updatedAt');
    expect(sorted(['id'], CustomerOrderField.EXTERNAL_REF)).toContain('externalRef');
  });

  it('ignores selected names that are not columns (nested fields, __typename)', () => {
    expect(sorted(['__typename', 'consents', 'profileChanges', 'complaints'])).toEqual(['accountManagerId', 'createdAt', 'id', 'onboardedByPartnerId', 'status']);
  });
});
