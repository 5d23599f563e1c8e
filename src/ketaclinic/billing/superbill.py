"""The superbill: a statement of services a patient can send to their insurer for
out-of-network reimbursement. It lists the clinic (name, address, phone), the provider,
the patient (name, date of birth, address), the diagnoses (ICD-10-CM), each service with
its date, CPT/HCPCS code, units and fee, the totals, the payments received and the
balance. Rendered with fpdf2's core Helvetica, so text goes through `latin1_safe` as the
REMS form does (charting/rems_pdf.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from fpdf import FPDF
from fpdf.fonts import FontFace

from ketaclinic.charting.rems_pdf import latin1_safe

HEADING = "Superbill - statement of services"


@dataclass(frozen=True)
class SuperbillLine:
    service_date: date
    code: str
    description: str
    units: int
    fee: Decimal


@dataclass(frozen=True)
class SuperbillPayment:
    received_on: date
    method: str
    reference: str
    amount: Decimal


@dataclass(frozen=True)
class Superbill:
    clinic_name: str
    clinic_address: str
    clinic_phone: str
    provider: str
    patient_name: str
    patient_birth_date: date
    patient_address: str
    patient_mrn: str
    diagnoses: list[tuple[str, str]]
    lines: list[SuperbillLine]
    payments: list[SuperbillPayment]
    total_charges: Decimal
    total_paid: Decimal
    adjustments: Decimal
    balance: Decimal
    issued_on: date


def money_text(amount: Decimal) -> str:
    """$1,234.50; a credit as -$12.00."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def superbill_pdf(bill: Superbill) -> bytes:
    """The superbill as PDF bytes (US Letter)."""
    pdf = FPDF(orientation="portrait", unit="mm", format="Letter")
    pdf.set_title(latin1_safe(f"Superbill {bill.patient_name}"))
    pdf.set_creator("ketaclinic")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()

    def text(size: float, line: str, style: str = "") -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(0, size * 0.5, latin1_safe(line), new_x="LMARGIN", new_y="NEXT")

    text(16, HEADING, "B")
    text(11, bill.clinic_name, "B")
    text(9, bill.clinic_address)
    text(9, f"Phone {bill.clinic_phone}")
    text(9, f"Provider: {bill.provider}")
    text(9, f"Issued {bill.issued_on:%Y-%m-%d}")
    pdf.ln(3)
    text(11, "Patient", "B")
    text(9, f"{bill.patient_name} (MRN {bill.patient_mrn})")
    text(9, f"Date of birth {bill.patient_birth_date:%Y-%m-%d}")
    text(9, f"Address: {bill.patient_address or 'not on file'}")
    pdf.ln(3)
    text(11, "Diagnoses (ICD-10-CM)", "B")
    for code, description in bill.diagnoses or [("", "None recorded")]:
        text(9, f"{code}  {description}".strip())
    pdf.ln(3)
    text(11, "Services", "B")
    pdf.set_font("Helvetica", "", 9)
    bold = FontFace(emphasis="BOLD")
    with pdf.table(
        col_widths=(24, 20, 86, 14, 26),
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"),
        line_height=4.6,
        padding=0.8,
    ) as table:
        head = table.row(style=bold)
        for label in ("Date", "Code", "Service", "Units", "Fee"):
            head.cell(label)
        for line in bill.lines:
            row = table.row()
            row.cell(f"{line.service_date:%Y-%m-%d}")
            row.cell(latin1_safe(line.code or "-"))
            row.cell(latin1_safe(line.description))
            row.cell(str(line.units))
            row.cell(money_text(line.fee))
    pdf.ln(3)
    text(11, "Payments received", "B")
    if not bill.payments:
        text(9, "None.")
    for payment in bill.payments:
        reference = f", ref. {payment.reference}" if payment.reference else ""
        text(
            9,
            f"{payment.received_on:%Y-%m-%d}  {payment.method}{reference}  "
            f"{money_text(payment.amount)}",
        )
    pdf.ln(3)
    text(10, f"Total charges: {money_text(bill.total_charges)}", "B")
    text(10, f"Total paid: {money_text(bill.total_paid)}", "B")
    if bill.adjustments:
        text(10, f"Write-offs: {money_text(bill.adjustments)}", "B")
    text(10, f"Balance due: {money_text(bill.balance)}", "B")
    pdf.ln(2)
    text(8, "Self-pay statement for the patient's own claim to their insurer.", "I")
    return bytes(pdf.output())
